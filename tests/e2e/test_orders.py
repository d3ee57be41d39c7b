"""Orders against localnet: limit buys and sells, trailing stops and DCA fire through the monitor's cycle, each at
most once, and a crash at any order step never produces a second trade."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from positions.amounts import SellAmount
from positions.models import Order, OrderFiring, Position, Trade
from positions.monitor import Monitor
from positions.order_placing import (
    TriggerKind,
    TriggerSpec,
    place_dca,
    place_dca_sell,
    place_limit_buy,
    place_limit_sell,
    place_trailing_stop,
)
from positions.orders import OrderEngine
from positions.reconcile import reconcile_pending
from positions.trading import Step
from tests.e2e.conftest import dump, fresh_token, make_trader, pump

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


class Crash(Exception):
    """Stands for the process dying at a named step."""


def crash_at(point: str):
    def on_point(reached: str) -> None:
        if reached == point:
            raise Crash(point)
    return on_point


class Clock:
    def __init__(self) -> None:
        self.moment = timezone.now()

    def __call__(self):
        return self.moment

    def advance(self, **delta) -> None:
        self.moment += timedelta(**delta)


def price(text: str) -> TriggerSpec:
    return TriggerSpec(TriggerKind.PRICE, Decimal(text), text)


def watcher(engine, **kwargs) -> tuple[Monitor, OrderEngine, list]:
    told: list = []

    async def tell(event) -> None:
        told.append(event)

    orders = OrderEngine(engine, notify=tell, retry_base_seconds=0, **kwargs)
    return Monitor(engine, orders=orders), orders, told


async def _sells(trader) -> int:
    return await Trade.objects.filter(user=trader.wallet, side="sell").acount()


async def _buys(trader) -> int:
    return await Trade.objects.filter(user=trader.wallet, side="buy").acount()


async def test_a_limit_sell_at_2x_fires_once_when_the_price_doubles_and_tells_the_trader(engine, localnet, trader):
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    order = await place_limit_sell(engine, telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.parse("50%"),
                                   trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal(2), "2x"), expires_in=None,
                                   now=timezone.now())
    monitor, _, told = watcher(engine)
    report = await monitor.run_cycle()
    assert report.orders == 1 and report.order_events == [] and report.price_requests == 1
    pump(localnet, token)
    report = await monitor.run_cycle()
    assert [e.status for e in report.order_events] == ["filled"] and told == report.order_events
    assert told[0].result.sold_raw > 0 and not told[0].result.position_closed
    assert (await monitor.run_cycle()).order_events == []
    order = await Order.objects.aget(pk=order.pk)
    assert order.status == "filled" and order.firings_started == 1
    trade = await Trade.objects.select_related("order_firing").aget(user=trader.wallet, side="sell")
    assert trade.order_firing.order_id == order.pk and trade.order_firing.outcome == "filled"


async def test_a_limit_buy_fires_when_the_price_falls_to_it(engine, localnet, trader):
    token = fresh_token(localnet)
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                  now=timezone.now())
    monitor, _, _ = watcher(engine)
    assert (await monitor.run_cycle()).order_events == []
    dump(localnet, token)
    events = (await monitor.run_cycle()).order_events
    assert [e.status for e in events] == ["filled"] and events[0].result.received_raw > 0
    assert (await Order.objects.aget(pk=order.pk)).status == "filled"
    assert await Position.objects.filter(user=trader.wallet, token_mint=token.mint, is_open=True).aexists()
    assert await _buys(trader) == 1


async def test_a_market_cap_trigger_is_the_supply_times_the_price(engine, localnet, trader):
    token = fresh_token(localnet)  # 10**6 tokens at 0.0005 SOL: a market cap of 500 SOL
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.MCAP, Decimal(400), "mcap 400"), expires_in=None,
                                  now=timezone.now())
    assert (order.trigger_num, order.trigger_den) == (2, 5)  # 400 SOL over 10**12 raw units: lamports per unit
    monitor, _, _ = watcher(engine)
    assert (await monitor.run_cycle()).order_events == []
    dump(localnet, token)
    assert [e.status for e in (await monitor.run_cycle()).order_events] == ["filled"]


async def test_a_trailing_stop_keeps_its_peak_across_a_restart_and_sells_on_the_fall(engine, localnet, trader):
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    order = await place_trailing_stop(engine, telegram_user_id=trader.id, mint=token.mint, percent=Decimal(40))
    first_peak = (order.peak_num, order.peak_den)
    monitor, _, _ = watcher(engine)
    pump(localnet, token)
    assert (await monitor.run_cycle()).order_events == []
    order = await Order.objects.aget(pk=order.pk)
    assert order.peak_num * first_peak[1] > first_peak[0] * order.peak_den  # a higher peak, stored
    # Back to about where it started: above the first peak's stop, 40% below the new one. A new engine (a restart)
    # knows the new peak, so it sells.
    localnet.swap_as(localnet.funded_keypair(sol=1), token.mint, localnet.sol_mint,
                     localnet.pool(token.symbol)[1] // 2)
    restarted, _, _ = watcher(engine)
    events = (await restarted.run_cycle()).order_events
    assert [e.status for e in events] == ["filled"] and events[0].result.position_closed
    assert await _sells(trader) == 1


async def test_a_dca_buys_each_part_once_on_schedule_and_survives_a_restart(engine, localnet, trader):
    token = fresh_token(localnet)
    clock = Clock()
    order = await place_dca(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10, parts=3,
                            interval_seconds=3600, now=clock())
    monitor, _, _ = watcher(engine, now=clock)
    assert [e.order.parts_done for e in (await monitor.run_cycle()).order_events] == [1]
    assert (await monitor.run_cycle()).order_events == []  # not due for an hour
    clock.advance(minutes=61)
    restarted, _, _ = watcher(engine, now=clock)
    assert [e.order.parts_done for e in (await restarted.run_cycle()).order_events] == [2]
    clock.advance(minutes=61)
    events = (await restarted.run_cycle()).order_events
    assert [(e.order.parts_done, e.status) for e in events] == [(3, "filled")]
    assert await _buys(trader) == 3
    spent = [t.lamports_in async for t in Trade.objects.filter(user=trader.wallet, side="buy")]
    assert sum(spent) == SOL // 10
    assert (await Order.objects.aget(pk=order.pk)).status == "filled"


async def test_a_dca_sell_sells_the_position_in_even_parts_on_schedule_and_closes_it(engine, localnet, trader):
    token = fresh_token(localnet)
    clock = Clock()
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    held = localnet.chain.token_balance(trader.wallet.public_key, token.mint)
    order = await place_dca_sell(engine, telegram_user_id=trader.id, mint=token.mint, parts=3, interval_seconds=3600,
                                 now=clock())
    monitor, _, _ = watcher(engine, now=clock)
    assert [e.order.parts_done for e in (await monitor.run_cycle()).order_events] == [1]
    assert (await monitor.run_cycle()).order_events == []  # not due for an hour
    clock.advance(minutes=61)
    restarted, _, _ = watcher(engine, now=clock)
    assert [e.order.parts_done for e in (await restarted.run_cycle()).order_events] == [2]
    clock.advance(minutes=61)
    events = (await restarted.run_cycle()).order_events
    assert [(e.order.parts_done, e.status) for e in events] == [(3, "filled")]
    sold = [t.amount_in_raw async for t in Trade.objects.filter(user=trader.wallet, side="sell").order_by("pk")]
    assert sum(sold) == held and len(sold) == 3
    assert max(sold) - min(sold) <= 2  # a third, a half of the rest, then the rest: even to a raw unit or two
    assert localnet.chain.token_balance(trader.wallet.public_key, token.mint) == 0
    assert not await Position.objects.filter(user=trader.wallet, token_mint=token.mint, is_open=True).aexists()
    assert (await Order.objects.aget(pk=order.pk)).status == "filled"


async def test_a_dca_sell_of_a_position_sold_meanwhile_stops_with_the_reason(engine, localnet, trader):
    token = fresh_token(localnet)
    clock = Clock()
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    order = await place_dca_sell(engine, telegram_user_id=trader.id, mint=token.mint, parts=2, interval_seconds=60,
                                 now=clock())
    await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all())
    monitor, _, _ = watcher(engine, now=clock)
    events = (await monitor.run_cycle()).order_events
    assert [e.status for e in events] == ["failed"] and events[0].error.code == "no_open_position"
    assert (await Order.objects.aget(pk=order.pk)).status == "failed"


async def test_a_dca_stops_with_the_reason_when_the_traders_limits_refuse(engine, localnet, trader):
    from wallets.models import UserSettings

    token = fresh_token(localnet)
    clock = Clock()
    order = await place_dca(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL, parts=2,
                            interval_seconds=60, now=clock())
    await UserSettings.objects.filter(user=trader.wallet).aupdate(max_trade_size_lamports=SOL // 10)
    monitor, _, _ = watcher(engine, now=clock)
    events = (await monitor.run_cycle()).order_events
    assert [e.status for e in events] == ["failed"] and events[0].error.code == "trade_too_large"
    order = await Order.objects.aget(pk=order.pk)
    assert order.status == "failed" and "trade_too_large" in order.failure_reason
    assert await _buys(trader) == 0


async def test_a_refusal_that_may_pass_is_retried_then_failed_and_told_once(engine, localnet, trader):
    token = fresh_token(localnet)
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                  now=timezone.now())
    dump(localnet, token)
    await sync_to_async(call_command)("killswitch", "on", "buys", "--user", str(trader.id))
    monitor, _, told = watcher(engine)
    for _ in range(2):
        assert (await monitor.run_cycle()).order_events == []  # resting, not told
        assert (await Order.objects.aget(pk=order.pk)).status == "active"
    events = (await monitor.run_cycle()).order_events
    assert [e.status for e in events] == ["failed"] and len(told) == 1
    assert (await monitor.run_cycle()).order_events == [] and len(told) == 1
    order = await Order.objects.aget(pk=order.pk)
    assert order.attempts == 3 and order.firings_started == 3 and await _buys(trader) == 0


async def test_an_order_past_its_expiry_expires_and_never_fires(engine, localnet, trader):
    token = fresh_token(localnet)
    clock = Clock()
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"),
                                  expires_in=timedelta(hours=1), now=clock())
    monitor, _, _ = watcher(engine, now=clock)
    clock.advance(hours=2)
    dump(localnet, token)
    assert [e.status for e in (await monitor.run_cycle()).order_events] == ["expired"]
    assert (await Order.objects.aget(pk=order.pk)).status == "expired" and await _buys(trader) == 0


async def test_two_monitors_at_once_fire_an_order_once(engine, localnet, trader):
    token = fresh_token(localnet)
    await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                          trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                          now=timezone.now())
    dump(localnet, token)
    (first, _, _), (second, _, _) = watcher(engine), watcher(engine)
    reports = await asyncio.gather(first.run_cycle(), second.run_cycle())
    assert sum(len(r.order_events) for r in reports) == 1
    assert await _buys(trader) == 1


async def test_a_ladder_of_limit_sells_fires_each_rung_once(engine, localnet, trader):
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    for multiple, amount in (("1.5", "25%"), ("2", "25%"), ("100", "all")):
        await place_limit_sell(engine, telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.parse(amount),
                               trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal(multiple), f"{multiple}x"),
                               expires_in=None, now=timezone.now())
    monitor, _, _ = watcher(engine)
    pump(localnet, token)
    fired = []
    for _ in range(3):
        fired += (await monitor.run_cycle()).order_events
    assert sorted(e.order.trigger_text for e in fired) == ["1.5x", "2x"]
    assert await _sells(trader) == 2
    assert await Order.objects.filter(user=trader.wallet, status="active").acount() == 1


@pytest.mark.parametrize("point", ["order.claimed", "order.fired"])
async def test_a_crash_at_an_order_point_never_makes_a_second_trade(engine, localnet, trader, point):
    token = fresh_token(localnet)
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                  now=timezone.now())
    dump(localnet, token)
    crashing, _, _ = watcher(engine, on_point=crash_at(point))
    with pytest.raises(Crash):
        await crashing.run_cycle()
    assert (await Order.objects.aget(pk=order.pk)).status == "firing"
    assert await _buys(trader) == (0 if point == "order.claimed" else 1)
    restarted, _, told = watcher(engine, orphan_after_seconds=0)
    for _ in range(3):
        await restarted.run_cycle()
    assert await _buys(trader) == 1
    order = await Order.objects.aget(pk=order.pk)
    assert order.status == "filled" and [e.status for e in told] == ["filled"]
    outcomes = [f.outcome async for f in OrderFiring.objects.filter(order=order).order_by("seq")]
    assert outcomes == (["abandoned", "filled"] if point == "order.claimed" else ["filled"])


async def test_a_restarted_engine_releases_at_once_a_firing_older_than_itself(engine, localnet, trader):
    """A firing that wrote no trade is released by the next process's first cycle (it is older than that engine),
    not after ORPHAN_AFTER_SECONDS; an engine that was already running waits for the orphan age (the firing may
    still be another process's, about to write its trade)."""
    token = fresh_token(localnet)
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                  now=timezone.now())
    dump(localnet, token)
    running, _, _ = watcher(engine)
    crashing, _, _ = watcher(engine, on_point=crash_at("order.claimed"))
    with pytest.raises(Crash):
        await crashing.run_cycle()
    await running.run_cycle()  # younger than the orphan age and than this engine: left alone
    assert (await Order.objects.aget(pk=order.pk)).status == "firing"
    restarted, _, told = watcher(engine)  # the default orphan age
    for _ in range(2):
        await restarted.run_cycle()
    assert (await Order.objects.aget(pk=order.pk)).status == "filled" and [e.status for e in told] == ["filled"]
    outcomes = [f.outcome async for f in OrderFiring.objects.filter(order=order).order_by("seq")]
    assert outcomes == ["abandoned", "filled"] and await _buys(trader) == 1


async def test_a_crash_while_the_trade_confirms_is_settled_by_reconciliation_and_the_order_follows(engine, localnet,
                                                                                                    trader):
    token = fresh_token(localnet)
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                  now=timezone.now())
    dump(localnet, token)
    original = engine.execute_buy

    async def dying(**kwargs):  # the process dies once the transaction is sent, before it confirms
        async def progress(step):
            if step is Step.CONFIRMING:
                raise Crash(step)
        return await original(**kwargs, progress=progress)

    engine.execute_buy = dying
    crashing, _, _ = watcher(engine)
    with pytest.raises(Crash):
        await crashing.run_cycle()
    engine.execute_buy = original
    restarted, _, told = watcher(engine, orphan_after_seconds=0)
    await restarted.run_cycle()  # the trade is pending: the order waits for it
    assert (await Order.objects.aget(pk=order.pk)).status == "firing"
    assert (await reconcile_pending(engine.rpc)).confirmed == 1
    await restarted.run_cycle()
    assert (await Order.objects.aget(pk=order.pk)).status == "filled" and [e.status for e in told] == ["filled"]
    assert await _buys(trader) == 1


async def test_a_released_firing_can_never_gain_a_trade(engine, localnet, trader):
    """The last guard: a firing released as orphaned refuses the pending row its (not quite dead) trade tries to
    write, so the order's next firing is its only trade."""
    from positions import order_services
    from positions.order_errors import FiringClosed

    token = fresh_token(localnet)
    order = await place_limit_buy(engine, telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                  trigger=TriggerSpec(TriggerKind.FALL, Decimal(30), "-30%"), expires_in=None,
                                  now=timezone.now())
    claim = await sync_to_async(order_services.claim_firing)(order_id=order.pk, now=timezone.now())
    assert await sync_to_async(order_services.abandon_firing)(firing_id=claim.firing_id, now=timezone.now())
    with pytest.raises(FiringClosed):
        await engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10,
                                 order_firing_id=claim.firing_id)
    assert await _buys(trader) == 0 and (await Order.objects.aget(pk=order.pk)).status == "active"


async def test_a_limit_sell_of_a_position_gone_fails_with_the_reason(engine, localnet, transactional_db):
    trader = await make_trader(engine, localnet)
    token = fresh_token(localnet)
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 2)
    await place_limit_sell(engine, telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all(),
                           trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal(2), "2x"), expires_in=None,
                           now=timezone.now())
    await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.all())
    pump(localnet, token)
    monitor, _, _ = watcher(engine)
    events = (await monitor.run_cycle()).order_events
    assert [(e.status, e.error.code) for e in events] == [("failed", "no_open_position")]
