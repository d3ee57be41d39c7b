"""Backup, verify and restore as an operator runs them (real processes), on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest

from kernel.config import BASE_DIR
from tests.settings import TEST_WALLET_KEY

SEED = ("import django; django.setup(); from custody.services import get_or_create_user_wallet; "
        "[get_or_create_user_wallet(i, f'u{i}') for i in range({n})]")


def _env(database_url: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": "/dev/null", "DATABASE_URL": database_url,
            "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "SECRET_KEY": "tests-only",
            "DJANGO_SETTINGS_MODULE": "tradingbot.settings"}


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=300)


def _seed(env, count: int) -> None:
    subprocess.run([sys.executable, "-c", SEED.replace("{n}", str(count))], cwd=BASE_DIR, env=env, check=True,
                   timeout=120)


def _wallets(env) -> int:
    result = subprocess.run([sys.executable, "-c", "import django; django.setup(); from wallets.models import "
                             "UserWallet; print(UserWallet.objects.count())"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    return int(result.stdout.strip())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}"
        return
    name = f"ops_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgres://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_verify_and_restore_round_trip(database_url, tmp_path):
    env = _env(database_url)
    assert _manage(env, "migrate", "-v", "0").returncode == 0
    _seed(env, 3)
    backups = tmp_path / "backups"
    made = _manage(env, "backup_db", "--dir", str(backups), "--keep", "2", "--verify")
    assert made.returncode == 0, made.stderr
    assert "user_wallets 3" in made.stdout and "Verified" in made.stdout
    _seed(env, 5)  # two more wallets after the backup
    assert _wallets(env) == 5
    newest = sorted(backups.iterdir())[-1]
    refused = _manage(env, "restore_db", str(newest))
    assert refused.returncode != 0 and "--yes-i-am-sure" in refused.stderr
    restored = _manage(env, "restore_db", str(newest), "--yes-i-am-sure")
    assert restored.returncode == 0, restored.stderr
    assert _wallets(env) == 3
    for _ in range(3):
        assert _manage(env, "backup_db", "--dir", str(backups), "--keep", "2").returncode == 0
    assert len(list(backups.iterdir())) == 2  # retention


def test_a_corrupted_backup_fails_verification_clearly(database_url, tmp_path):
    env = _env(database_url)
    assert _manage(env, "migrate", "-v", "0").returncode == 0
    backups = tmp_path / "backups"
    assert _manage(env, "backup_db", "--dir", str(backups)).returncode == 0
    newest = sorted(backups.iterdir())[-1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 3: len(data) // 3 + 4096] = b"\xff" * 4096
    newest.write_bytes(bytes(data[: len(data) // 2]))
    result = _manage(env, "backup_db", "--dir", str(backups), "--verify-only")
    assert result.returncode != 0
    assert newest.name in result.stderr and "Traceback" not in result.stderr
    refused = _manage(env, "restore_db", str(newest), "--yes-i-am-sure")
    assert refused.returncode != 0 and "Nothing was restored" in refused.stderr
