"""The proof suites drive the same real stack as the end-to-end tests."""

from tests.e2e.conftest import (  # noqa: F401
    ManualClock,
    bot,
    bot_config,
    chat_factory,
    clock,
    engine,
    trader,
    trading_config,
)
