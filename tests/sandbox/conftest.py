"""The sandbox's tests drive the real bot through localnet, with the e2e fixtures."""

from tests.e2e.conftest import bot, bot_config, buttons, swap_compose  # noqa: F401 - fixtures and a helper, shared
