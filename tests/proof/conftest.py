"""The proof suites drive the same real stack as the end-to-end tests."""

import pytest

from tests.e2e.conftest import (  # noqa: F401
    ManualClock,
    bot,
    bot_config,
    chat_factory,
    clock,
    engine,
    swap_compose,
    trader,
    trading_config,
)
from tests.proof.outcomes import PASSED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a test that passed (setup and call), for ``tests.proof.outcomes.tests_not_passed``."""
    report = yield
    if report.when == "setup" or report.failed:
        item.stash[PASSED] = False
    if report.when == "call" and report.passed:
        item.stash[PASSED] = True
    return report
