"""Prices that move on their own (the sandbox's knob, off by default): a random walk of real swaps, with an
occasional pump or rug, and the same pump or rug on demand."""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import Decimal

import pytest

from localnet import Localnet


@pytest.fixture(scope="module")
def walking():
    network = Localnet.start()
    network.knobs.seed = 7
    yield network
    network.stop()


def prices(network: Localnet) -> dict[str, Decimal]:
    return {t["symbol"]: Decimal(t["price_sol"]) for t in network.token_directory()}


def test_it_is_off_unless_asked_for(localnet):
    assert localnet.price_walk is None


def test_a_tick_moves_prices_by_real_swaps(walking):
    walk = walking.start_price_walk(interval_seconds=3600)  # the thread waits; the test ticks
    before, height = prices(walking), walking.chain.block_height
    moves = walk.tick()
    assert moves and all(m.kind == "step" for m in moves[:2])
    after = prices(walking)
    assert {m.symbol for m in moves} == {s for s in before if before[s] != after[s]}
    assert walking.chain.block_height > height  # a landed transaction per move
    assert after["MAXI"] == before["MAXI"]  # the u64-supply token is left alone


def test_a_pump_raises_and_a_rug_drops_the_price(walking):
    walk = walking.start_price_walk(interval_seconds=3600)
    before = prices(walking)["JUP"]
    walk.pump("JUP")
    pumped = prices(walking)["JUP"]
    assert pumped > before * Decimal("1.2")
    walk.rug("JUP")
    assert prices(walking)["JUP"] < pumped * Decimal("0.7")


def test_the_walk_moves_prices_on_its_own(walking):
    before = prices(walking)
    walking.start_price_walk(interval_seconds=0.05)
    deadline = time.monotonic() + 20
    while prices(walking) == before:
        assert time.monotonic() < deadline, "no price moved within 20 s"
        time.sleep(0.05)
    walking.price_walk.stop()


def test_the_sandbox_page_can_rug_a_token_through_the_chat_room(walking):
    before = prices(walking)["NINE"]
    request = urllib.request.Request(f"{walking.telegram.url}/chat/{walking.telegram.token}/1/move",
                                     data=json.dumps({"symbol": "NINE", "kind": "rug"}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["ok"]
    assert prices(walking)["NINE"] < before * Decimal("0.8")
