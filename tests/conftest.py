"""Shared fixtures. Real databases; localnet for the chain, the swap venue and Telegram."""

import pytest
from django.db import connection

from tradingbot.config import get_config
from wallets.crypto import Keyring


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
