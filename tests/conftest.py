"""Shared fixtures. Real databases; localnet for the chain, the swap venue and Telegram."""

import base64
import contextlib
import logging

import pytest
from django.db import connection

from kernel.config import get_config
from wallets.crypto import Keyring, SecretUnavailable

pytest_plugins = ["localnet.pytest_plugin"]


def pytest_report_header(config):
    from django.conf import settings

    return f"database: {settings.DATABASES['default']['ENGINE']} {settings.DATABASES['default']['NAME']}"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(get_config().require_encryption_keys())


@pytest.fixture
def on_postgres(db) -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: keep its raw parts
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


def secret_encodings(secret: bytes) -> list[str]:
    """Ways a 64-byte Solana secret could leak: base58 (Phantom), hex, base64, the seed alone, a byte list."""
    from solders.keypair import Keypair

    return [str(Keypair.from_bytes(secret)), secret.hex(), base64.b64encode(secret).decode(), secret[:32].hex(),
            base64.b64encode(secret[:32]).decode(), ", ".join(str(b) for b in secret[:16])]


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log():
    """Every log line written during the whole suite is scanned for every wallet secret the suite created."""
    from django.db.models.signals import post_save

    from wallets.models import UserWallet

    capture = _LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    secrets: set[str] = set()
    keyring = Keyring(get_config().require_encryption_keys())

    def remember_secret(sender, instance, **kwargs):
        with contextlib.suppress(SecretUnavailable):  # sealed with a key a test chose on purpose
            secrets.update(secret_encodings(keyring.open(instance.encrypted_secret)))

    post_save.connect(remember_secret, sender=UserWallet, weak=False, dispatch_uid="no-secret-in-logs")
    yield capture
    post_save.disconnect(sender=UserWallet, dispatch_uid="no-secret-in-logs")
    root.removeHandler(capture)
    text = "\n".join(capture.lines)
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{len(leaked)} secret encoding(s) found in the logs"


@pytest.fixture(scope="session", autouse=True)
def _close_async_db_connections(django_db_setup, django_db_blocker):
    """Async code runs its queries on asgiref's database thread; close that connection before the test
    database is dropped (PostgreSQL refuses to drop a database that is still in use)."""
    yield
    import asyncio

    from kernel.db import close_db_connections

    with django_db_blocker.unblock():
        asyncio.run(close_db_connections())


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Login-throttle counters and the like must not leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
