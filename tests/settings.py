"""Settings for the test suite: the project's settings, with the tests' own values and nothing from the operator's
shell or developer .env.

Hermetic: every variable the configuration reads (each name ``kernel/config.py`` spells out) is removed from
the environment before the settings load, and the tests' values are set, so an exported WALLET_ENCRYPTION_KEY,
REDIS_URL or MAX_POSITION_SIZE_SOL cannot change what the suite sees (nor what the processes it starts inherit).
DATABASE_URL alone is left to the caller, so ``make test`` runs on SQLite and ``DATABASE_URL=postgres://… make test``
runs the same suite on PostgreSQL.
"""

import os
import re
from pathlib import Path

TEST_WALLET_KEY = "pYt7Kq8m2ZxvB3nWc5dRfGh9JkLpQs4tUvWxYz0aBcE="
TEST_SECRET_KEY = "tests-only-secret-key-not-for-production"
CALLER_CHOOSES = {"DATABASE_URL"}


def configuration_variables() -> set[str]:
    source = (Path(__file__).resolve().parent.parent / "kernel" / "config.py").read_text()
    return set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', source)) - CALLER_CHOOSES


for _name in configuration_variables():
    os.environ.pop(_name, None)
os.environ.update({"TRADINGBOT_ENV_FILE": os.devnull, "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY,
                   "SECRET_KEY": TEST_SECRET_KEY})

from tradingbot.settings import *  # noqa: E402, F403

SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
