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
