"""Running Django ORM work from async code.

Each call runs in a worker thread with its own database connection (``thread_sensitive=False``), so concurrent
trades really hold concurrent transactions and row locks, as several bot workers would. Stale connections are
dropped before each call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def db_call(function: Callable[P, R]) -> Callable[P, R]:
    """Decorate a sync function so that ``await async_version(...)`` runs it on a database worker thread."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=False)
