"""Whether every test of a proof module passed, so a proof records "pass" only for a complete, passing run.

``conftest.pytest_runtest_makereport`` marks each test that passed; a proof module's fixture, at its teardown
(after the module's last test), asks which of the module's tests did not: failed, errored, skipped, deselected
(``-k``) or never reached (``-x``). A proof that recorded figures from a partial run would otherwise read "pass".
"""

from __future__ import annotations

import pytest

from tests.proof.scale import record

PASSED = pytest.StashKey[bool]()


def tests_not_passed(request: pytest.FixtureRequest) -> list[str]:
    """Names of the tests defined in ``request``'s module that did not run and pass in this session."""
    module = request.module
    defined = {name for name, value in vars(module).items() if name.startswith("test_") and callable(value)}
    passed, other = set(), set()
    for item in request.session.items:
        if getattr(item, "module", None) is module:
            (passed if item.stash.get(PASSED, False) else other).add(getattr(item, "originalname", item.name))
    return sorted(other | (defined - passed))


def record_module(request: pytest.FixtureRequest, name: str, *, result: str, **figures) -> None:
    """Record ``name``'s figures with ``result`` if every test of the module passed, else with a FAILED result
    naming the tests that did not (the figures then cover a partial run)."""
    missing = tests_not_passed(request)
    if missing:
        result = f"FAILED (not run, or not passed: {', '.join(missing)})"
    record(name, result=result, **figures)
