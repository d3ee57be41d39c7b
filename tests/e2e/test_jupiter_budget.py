"""The swap API's request budget with the real monitor and engine on localnet: the monitor's polls give way, and a
trade uses the reserve kept for it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kernel.chain.budget import BudgetExhausted, RequestBudget
from kernel.metrics import JUPITER_REQUESTS, MONITOR_CYCLES_DEFERRED
from positions.monitor import Monitor
from tests.e2e.conftest import make_trader
from wallets.models import UserSettings

SOL = 10**9


async def test_with_the_budget_tight_the_monitor_puts_its_cycle_off_and_a_trade_still_goes(engine, localnet,
                                                                                          transactional_db):
    trader = await make_trader(engine, localnet, sol=5)
    await UserSettings.objects.filter(user=trader.wallet).aupdate(stop_loss_percentage=Decimal(30))
    await trader.buy("WIF", SOL // 10)  # an open position with a stop loss: the monitor has something to price
    engine.jupiter.budget = RequestBudget(10, reserve=4)
    mints = [token.mint for token in localnet.tokens.values()]
    # Price polls spend what can be spared for them (one request each, as the monitor's small cycles do).
    spent = 0
    with pytest.raises(BudgetExhausted):
        while True:
            await engine.jupiter.sol_prices(mints[:1], background=True)
            spent += 1
    assert spent == 6
    deferred_before = _count(MONITOR_CYCLES_DEFERRED)
    report = await Monitor(engine).run_cycle()
    assert report.deferred and report.triggers == [] and _count(MONITOR_CYCLES_DEFERRED) == deferred_before + 1

    requests_before = _count(JUPITER_REQUESTS)
    result = await trader.buy("BONK", SOL // 10)  # the reserve: quote and swap go at once
    assert result.signature and _count(JUPITER_REQUESTS) - requests_before == 2
    assert engine.jupiter.budget.free() == 2
    assert await engine.jupiter.usd_prices(mints[:1])  # a trader's own screen is not background either
    assert isinstance(next(iter((await engine.jupiter.usd_prices(mints[:1])).values())), Decimal)


def _count(metric) -> float:
    return sum(sample.value for family in metric.collect() for sample in family.samples
               if sample.name.endswith("_total"))
