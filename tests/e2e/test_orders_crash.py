"""Crash rounds with orders, in one process: each round places a limit buy that crosses at once, runs a monitor
whose engine dies (raises) at a random step of the firing (order.claimed, quoting, sending, confirming,
order.fired) or not at all, then restarts it (a new engine on the same database) with reconciliation in between.
No order may be bought twice, none may be lost: each ends filled with exactly one confirmed trade, no trade left
pending, no firing left open. The process-wide proof (SIGKILL of ``manage.py runbot``, with the orders typed through
the Telegram stand-in) is tests/proof/test_crash_anywhere.py's order rounds; this one reaches the steps in between
(quoting, sending, confirming) by raising, every round, in a few seconds."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from django.utils import timezone

from positions.models import Order, OrderFiring, Trade
from positions.monitor import Monitor
from positions.order_placing import TriggerKind, TriggerSpec, place_limit_buy
from positions.orders import OrderEngine
from positions.reconcile import reconcile_pending
from positions.trading import Step
from tests.e2e.test_orders import Crash, crash_at, dump, fresh_token
from tests.proof.scale import FULL, scaled

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
ROUNDS = scaled(8, 50)
STEPS = ["order.claimed", Step.QUOTING, Step.SENDING, Step.CONFIRMING, "order.fired", None]


async def test_no_order_is_fired_twice_or_lost_whatever_step_the_process_dies_at(engine, localnet, trader):
    rng = random.Random(17)
    original = engine.execute_buy
    died: dict[str, int] = {}
    for _ in range(ROUNDS):
        token = fresh_token(localnet)
        order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 20,
                                      trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                      now=timezone.now())
        dump(localnet, token)
        step = rng.choice(STEPS)
        if isinstance(step, Step):
            async def dying(_step=step, **kwargs):
                return await original(**kwargs, progress=_raise_at(_step))
            engine.execute_buy = dying
        crashing = Monitor(engine, orders=OrderEngine(engine, retry_base_seconds=0,
                                                      on_point=crash_at(step) if isinstance(step, str) else None))
        try:
            await crashing.run_cycle()
        except Crash:
            died[str(step)] = died.get(str(step), 0) + 1
        finally:
            engine.execute_buy = original
        # The restart: whatever was sent is settled from the chain, what was never sent expires, then the order
        # follows its trade or fires again.
        localnet.chain.advance_blocks(200)
        restarted = Monitor(engine, orders=OrderEngine(engine, retry_base_seconds=0, orphan_after_seconds=0))
        for _ in range(3):
            await reconcile_pending(engine.rpc)
            await restarted.run_cycle()
        order = await Order.objects.aget(pk=order.pk)
        trades = [t async for t in Trade.objects.filter(order_firing__order=order)]
        assert order.status == "filled", (step, order.status, order.failure_reason)
        assert [t.status for t in trades].count("confirmed") == 1, (step, [t.status for t in trades])
        assert "pending" not in [t.status for t in trades]
        assert not await OrderFiring.objects.filter(order=order, outcome="").aexists()
    assert sum(died.values()) > 0
    assert not FULL or set(died) == {str(step) for step in STEPS if step is not None}  # 50 rounds reach every step
    assert await Trade.objects.filter(user=trader.wallet, status="pending").acount() == 0


def _raise_at(step: Step):
    async def progress(reached: Step) -> None:
        if reached is step:
            raise Crash(step)
    return progress
