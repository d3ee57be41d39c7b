"""The suite is hermetic: an operator's exported settings (a real encryption key, a Redis, other trading limits,
DEBUG) do not leak into it. A part of the suite that depends on each runs in a shell full of hostile values."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet

from kernel.config import BASE_DIR
from tests.settings import configuration_variables

HOSTILE = {
    "WALLET_ENCRYPTION_KEY": Fernet.generate_key().decode(), "SECRET_KEY": "the-operators-own-key",
    "REDIS_URL": "redis://127.0.0.1:9/0", "MAX_POSITION_SIZE_SOL": "0.001", "DEFAULT_SLIPPAGE_BPS": "4321",
    "DEBUG": "true", "SOLANA_RPC_URL": "http://127.0.0.1:9", "TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35,
    "ALLOWED_HOSTS": "operator.example.com", "TRADINGBOT_ENV_FILE": str(BASE_DIR / "no-such.env"),
}
DEPENDS_ON_THEM = [
    "tests/custody/test_rotation.py::test_rotation_reseals_every_wallet_and_prints_fingerprints_never_keys",
    "tests/wallets/test_wallets.py::test_first_call_creates_wallet_and_settings_from_config_defaults",
    "tests/kernel/test_cache.py::test_values_round_trip_as_json_and_counters_count",
    "tests/ops/test_health_and_metrics.py::test_healthz_answers",
]


def test_the_hostile_values_are_ones_the_configuration_reads():
    assert set(HOSTILE) <= configuration_variables() | {"TRADINGBOT_ENV_FILE"}


def test_tests_pass_with_an_operators_settings_exported():
    env = {**os.environ, **HOSTILE}
    env.pop("DATABASE_URL", None)  # its own SQLite database: never the test database this run is using
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DEPENDS_ON_THEM],
                            cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{len(DEPENDS_ON_THEM)} passed" in result.stdout
