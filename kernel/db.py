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

import environ
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


def connection_settings(url: str) -> dict:
    """Django's settings for the database at ``url``, as the bot runs it."""
    database = environ.Env.db_url_config(url)
    # django-environ does not know django-prometheus' instrumented backends: swap the engine prefix.
    database["ENGINE"] = database["ENGINE"].replace("django.db.backends.", "django_prometheus.db.backends.")
    if "sqlite3" in database["ENGINE"]:
        # Wait for a writer instead of failing at once with "database is locked", and take the write lock when a
        # transaction begins, so read-check-write sequences (reserving a sell) cannot interleave.
        database.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    # The bot and its workers are long-lived: keep connections, check them before reuse.
    database["CONN_MAX_AGE"] = 300
    database["CONN_HEALTH_CHECKS"] = True
    return database
