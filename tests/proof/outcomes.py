"""Whether every test of a proof module passed, so a proof records "pass" only for a complete, passing run.

``conftest.pytest_runtest_makereport`` marks each test that ran, and whether it passed; a proof module's fixture,
at its teardown, asks which of the module's tests did not pass: failed, errored, skipped, deselected (``-k``) or
never reached (``-x``). A proof that recorded figures from a partial run would otherwise read "pass".

A module-scoped fixture may be torn down before its module is done: pytest-django runs the transactional tests of
every module before the tests that use no database, so a module with both (the fuzzing proof) runs in two stretches.
``module_finished`` tells the stretch to record from.
"""

from __future__ import annotations

import pytest

from tests.proof.scale import record

PASSED = pytest.StashKey[bool]()


def module_finished(request: pytest.FixtureRequest) -> bool:
    """Whether every selected test of ``request``'s module has run (or the session is stopping early)."""
    if request.session.shouldstop or request.session.shouldfail:
        return True
    return all(PASSED in item.stash for item in _items(request))


def tests_not_passed(request: pytest.FixtureRequest) -> list[str]:
    """Names of the tests defined in ``request``'s module that did not run and pass in this session."""
    defined = {name for name, value in vars(request.module).items() if name.startswith("test_") and callable(value)}
    passed, other = set(), set()
    for item in _items(request):
        (passed if item.stash.get(PASSED, False) else other).add(getattr(item, "originalname", item.name))
    return sorted(other | (defined - passed))


def record_module(request: pytest.FixtureRequest, name: str, *, result: str, **figures) -> None:
    """Once the module is finished, record ``name``'s figures with ``result`` if every test of the module passed,
    else with a FAILED result naming the tests that did not (the figures then cover a partial run)."""
    if not module_finished(request):
        return
    missing = tests_not_passed(request)
    if missing:
        result = f"FAILED (not run, or not passed: {', '.join(missing)})"
    record(name, result=result, **figures)


def _items(request: pytest.FixtureRequest) -> list[pytest.Item]:
    return [item for item in request.session.items if getattr(item, "module", None) is request.module]
