"""Pytest fixtures: one localnet for the session, faults and Telegram state cleared around every test."""

from __future__ import annotations

import pytest

from localnet import Localnet


@pytest.fixture(scope="session")
def localnet():
    network = Localnet.start()
    yield network
    network.stop()


@pytest.fixture(autouse=True)
def _localnet_clean(request):
    yield
    if "localnet" in request.fixturenames:
        network = request.getfixturevalue("localnet")
        network.clear_faults()
        network.telegram.reset()


@pytest.fixture
def telegram(localnet):
    return localnet.telegram
