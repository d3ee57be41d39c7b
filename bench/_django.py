"""Benchmarks run Django against a throwaway SQLite file (or the database given), migrated once."""

from __future__ import annotations

import os
import tempfile


def setup_django(database_url: str | None = None) -> None:
    if database_url is None:
        database_url = "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="bench-"), "bench.sqlite3")
    os.environ.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


async def count_queries(queries: list[str], on: bool) -> None:
    """Start (``on``) or stop appending every SQL statement the database connection of ``kernel.db``'s thread runs
    to ``queries``."""
    from kernel.db import db_call

    @db_call
    def switch() -> None:
        from django.db import connection

        def wrapper(execute, sql, params, many, context):
            queries.append(sql)
            return execute(sql, params, many, context)

        if on:
            connection.execute_wrappers.append(wrapper)
        else:
            connection.execute_wrappers.clear()

    await switch()
