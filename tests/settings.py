"""Settings for the test suite: the project's settings, with a test encryption key and no developer .env.

DATABASE_URL is left to the caller, so ``make test`` runs on SQLite and ``DATABASE_URL=postgres://… make test``
runs the same suite on PostgreSQL.
"""

import os

TEST_WALLET_KEY = "pYt7Kq8m2ZxvB3nWc5dRfGh9JkLpQs4tUvWxYz0aBcE="

os.environ["TRADINGBOT_ENV_FILE"] = os.devnull
os.environ.setdefault("WALLET_ENCRYPTION_KEY", TEST_WALLET_KEY)
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")

from tradingbot.settings import *  # noqa: E402, F403

SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
