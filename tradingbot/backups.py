"""Database backups that are proven restorable: SQLite through its online backup API, PostgreSQL through pg_dump's
custom format. Verification restores the newest backup into a scratch database and counts the ledger's rows."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import environ

TABLES = ("user_wallets", "user_settings", "positions", "trades", "withdrawals", "snipes")
PREFIX = "tradingbot-"


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Verification:
    path: Path
    counts: dict[str, int]


def backup(database_url: str, directory: Path, *, keep: int) -> Path:
    """Write a timestamped backup and prune the oldest beyond ``keep``; returns the new file."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    config = environ.Env.db_url_config(database_url)
    if "sqlite" in config["ENGINE"]:
        target = directory / f"{PREFIX}{stamp}.sqlite3"
        with sqlite3.connect(config["NAME"]) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
    else:
        target = directory / f"{PREFIX}{stamp}.dump"
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _pg_url(database_url)], "pg_dump")
    for old in sorted(_backups(directory))[:-keep]:
        old.unlink()
    return target


def newest(directory: Path) -> Path:
    found = sorted(_backups(directory))
    if not found:
        raise BackupError(f"no backup in {directory} (files named {PREFIX}*.sqlite3 or {PREFIX}*.dump)")
    return found[-1]


def verify(path: Path, database_url: str) -> Verification:
    """Restore ``path`` into a scratch database, check it opens and count the ledger's rows; the scratch copy is
    removed either way."""
    if path.suffix == ".sqlite3":
        return _verify_sqlite(path)
    return _verify_postgres(path, database_url)


def restore(path: Path, database_url: str) -> None:
    """Replace the live database's contents with the backup (the caller has asked for confirmation)."""
    verify(path, database_url)  # never restore something that does not open
    config = environ.Env.db_url_config(database_url)
    if path.suffix == ".sqlite3":
        with sqlite3.connect(path) as source, sqlite3.connect(config["NAME"]) as live:
            source.backup(live)
    else:
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_pg_url(database_url)}",
              str(path)], "pg_restore")


def _verify_sqlite(path: Path) -> Verification:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "verify.sqlite3"
        shutil.copyfile(path, copy)
        try:
            with sqlite3.connect(copy) as database:
                integrity = database.execute("PRAGMA integrity_check").fetchone()[0]
                if integrity != "ok":
                    raise BackupError(f"{path.name} is damaged: {integrity}")
                counts = {table: database.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                          for table in TABLES}
        except sqlite3.DatabaseError as err:
            raise BackupError(f"{path.name} is not a usable SQLite backup ({err})") from None
    return Verification(path, counts)


def _verify_postgres(path: Path, database_url: str) -> Verification:
    import psycopg

    scratch = f"verify_{uuid.uuid4().hex[:12]}"
    admin_url = _pg_url(database_url)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
        try:
            scratch_url = _with_database(admin_url, scratch)
            _run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={scratch_url}", str(path)], "pg_restore",
                 failure=f"{path.name} could not be restored")
            with psycopg.connect(scratch_url) as database:
                counts = {table: database.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                          for table in TABLES}
        except psycopg.Error as err:
            raise BackupError(f"{path.name} restored but is not a usable database ({err})") from None
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return Verification(path, counts)


def _backups(directory: Path) -> list[Path]:
    return [p for p in directory.glob(f"{PREFIX}*") if p.suffix in (".sqlite3", ".dump")]


def _pg_url(database_url: str) -> str:
    return database_url.replace("postgres://", "postgresql://", 1).replace("pgsql://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def _run(command: list[str], tool: str, *, failure: str | None = None) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace",
                                timeout=3600)
    except FileNotFoundError:
        raise BackupError(f"{tool} is not installed (apt-get install postgresql-client)") from None
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        raise BackupError(f"{failure or tool + ' failed'}: {detail}")
