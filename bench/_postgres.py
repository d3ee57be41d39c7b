"""A PostgreSQL database made for one benchmark and dropped after it (the server the test suite uses)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

SERVER = "postgres://postgres@127.0.0.1:5432"


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """Yield the DATABASE_URL of a fresh, empty database ``name``; a leftover from a killed run is dropped first."""
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(f"CREATE DATABASE {name}")
    try:
        yield f"{SERVER}/{name}"
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _psql(statement: str) -> None:
    subprocess.run(["psql", SERVER + "/postgres", "-qc", statement], check=True, capture_output=True)
