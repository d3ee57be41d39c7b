"""Benchmarks run Django against a throwaway SQLite file, migrated once."""

from __future__ import annotations

import os
import tempfile


def setup_django() -> None:
    database = os.path.join(tempfile.mkdtemp(prefix="bench-"), "bench.sqlite3")
    os.environ.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": f"sqlite:///{database}"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
