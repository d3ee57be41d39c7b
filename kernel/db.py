"""Running Django ORM work from async code.

Calls run on asgiref's single database thread (``thread_sensitive=True``): one connection per process, which the
owner can close at shutdown. Serializing a process's database calls costs little (each is a short transaction)
and is no weaker: correctness between processes rests on row locks and constraints, which the threaded tests
exercise on PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")


def db_call(function: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorate a sync function so that ``await async_version(...)`` runs it on the database thread."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=True)


async def close_db_connections() -> None:
    await sync_to_async(connections.close_all, thread_sensitive=True)()
