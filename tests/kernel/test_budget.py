"""One budget of swap-API requests, where a trader's trade always goes first: the monitor's price polls take only
what leaves the reserve free, all of a cycle or none, and put the cycle off instead of waiting."""

from __future__ import annotations

import time

import pytest

from kernel.chain.budget import BudgetExhausted, RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_background_requests_leave_the_reserve_to_trades_and_take_a_cycle_whole_or_not_at_all():
    clock = Clock()
    budget = RequestBudget(10, reserve=4, clock=clock)
    assert budget.free(background=True) == 6 and budget.free() == 10
    with pytest.raises(BudgetExhausted):
        budget.take_now(7)  # more than can be spared: nothing is taken
    assert budget.free() == 10
    budget.take_now(6)
    with pytest.raises(BudgetExhausted):
        budget.take_now(1)
    assert budget.free() == 4  # the reserve, for trades
    clock.now += 60.0  # the window has slid, but the server may have counted them a moment later than we did
    assert budget.free() == 4
    clock.now += 1.0  # a sixtieth of the window later, the slots come back
    assert budget.free(background=True) == 6


async def test_a_trade_may_use_every_slot_and_waits_for_the_window_when_none_is_left():
    budget = RequestBudget(3, reserve=1, window_seconds=0.3)
    for _ in range(3):
        await budget.take()
    assert budget.free() == 0 and budget.free(background=True) == 0
    started = time.monotonic()
    await budget.take()  # waits for the oldest slot to leave the window
    assert time.monotonic() - started >= 0.2


async def test_a_servers_retry_after_closes_the_window_for_everyone():
    budget = RequestBudget(100, window_seconds=60)
    budget.close_for(0.2)
    with pytest.raises(BudgetExhausted):
        budget.take_now(1)
    started = time.monotonic()
    await budget.take()
    assert time.monotonic() - started >= 0.15
