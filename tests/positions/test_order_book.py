"""The order book as the monitor reads it: a constant number of queries whatever the number of orders, and the
state machine of a firing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from custody.services import get_or_create_user_wallet
from positions import order_services
from positions.models import Order, OrderFiring
from positions.order_errors import FiringClosed, OrderNotCancellable, OrderNotFound
from positions.orders import Book, OrderEngine, _active_orders

pytestmark = pytest.mark.django_db(transaction=True)
MINTS = [f"Mint{i:040d}" for i in range(20)]


def _orders(wallet, count: int, *, first: int = 0) -> None:
    Order.objects.bulk_create([
        Order(user=wallet, token_mint=MINTS[n % len(MINTS)], token_decimals=6, kind=kind, **fields)
        for n in range(first, first + count)
        for kind, fields in [(("limit_buy", {"trigger_num": 1, "trigger_den": 10, "lamports": 10**8}),
                              ("limit_sell", {"trigger_num": 10, "trigger_den": 1, "sell_amount": "all"}),
                              ("trailing_stop", {"trail_percent": Decimal(20), "peak_num": 1, "peak_den": 1,
                                                 "sell_amount": "all"}))[n % 3]]])


def _read(cache: dict) -> list:
    return list(_active_orders.func(cache).values())


def _queries(function) -> int:
    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured)


def test_reading_and_evaluating_the_book_takes_the_same_queries_for_ten_or_a_thousand_orders():
    wallet = get_or_create_user_wallet(4001, "orders").wallet
    price = {mint: Decimal("0.001") for mint in MINTS}  # 1 lamport per raw unit: nothing crosses
    engine = OrderEngine(None)
    _orders(wallet, 10)
    assert _queries(lambda: _read({})) == 3  # versions, the new or changed orders, the frozen users
    _orders(wallet, 990, first=10)
    cold = {}
    assert _queries(lambda: cold.update(_active_orders.func({}))) == 3
    warm = {}
    assert _queries(lambda: warm.update(_active_orders.func(cold))) == 2  # nothing changed: nothing re-read
    assert len(warm) == 1000 and all(warm[pk] is cold[pk] for pk in warm)
    due, peaks = engine.due(Book(orders=list(warm.values())), price)
    assert due == [] and peaks == []


def test_a_changed_or_frozen_order_is_seen_at_the_next_read():
    wallet = get_or_create_user_wallet(4008, "changes").wallet
    other = get_or_create_user_wallet(4009, "frozen").wallet
    _orders(wallet, 30)
    _orders(other, 3)
    cache = _active_orders.func({})
    order = Order.objects.filter(user=wallet, kind="limit_buy").first()
    order.trigger_num = 7
    order.save()
    other.is_frozen = True
    other.save()
    Order.objects.filter(pk=Order.objects.filter(user=wallet).last().pk).update(status="cancelled")
    fresh = _active_orders.func(cache)
    assert fresh[order.pk].trigger == (7, 10) and fresh[order.pk] is not cache[order.pk]
    assert len(fresh) == 29 and not any(w.user_id == other.pk for w in fresh.values())


def test_a_rising_price_raises_every_trailing_peak_in_one_statement():
    wallet = get_or_create_user_wallet(4002, "peaks").wallet
    _orders(wallet, 300)
    engine = OrderEngine(None)
    due, peaks = engine.due(Book(orders=_read({})), {mint: Decimal("0.002") for mint in MINTS})
    assert due == [] and len(peaks) == 100 and {peak for _, peak in peaks} == {(2, 1)}
    assert _queries(lambda: order_services.save_peaks(peaks)) <= 3  # the statement, inside its transaction
    assert set(Order.objects.filter(kind="trailing_stop").values_list("peak_num", "peak_den")) == {(2, 1)}


def test_a_trailing_stop_fires_at_its_distance_below_the_peak():
    wallet = get_or_create_user_wallet(4003, "trail").wallet
    Order.objects.create(user=wallet, token_mint=MINTS[0], token_decimals=6, kind="trailing_stop",
                         trail_percent=Decimal(20), peak_num=1, peak_den=1, sell_amount="all")
    engine = OrderEngine(None)
    # 1 lamport per raw unit is 0.001 SOL per token: 20% below is 0.0008
    assert engine.due(Book(orders=_read({})), {MINTS[0]: Decimal("0.00080001")})[0] == []
    assert len(engine.due(Book(orders=_read({})), {MINTS[0]: Decimal("0.0008")})[0]) == 1


def test_a_firing_is_claimed_once_and_a_cancel_cannot_call_it_back():
    wallet = get_or_create_user_wallet(4004, "claims").wallet
    order = Order.objects.create(user=wallet, token_mint=MINTS[0], token_decimals=6, kind="limit_buy",
                                 trigger_num=1, trigger_den=1, lamports=10**8)
    now = timezone.now()
    claim = order_services.claim_firing(order_id=order.pk, now=now)
    assert claim is not None and claim.seq == 1
    assert order_services.claim_firing(order_id=order.pk, now=now) is None  # a second monitor gets nothing
    with pytest.raises(OrderNotCancellable):
        order_services.cancel_order(telegram_user_id=4004, order_id=order.pk, now=now)
    with pytest.raises(OrderNotFound):
        order_services.cancel_order(telegram_user_id=4005, order_id=order.pk, now=now)
    assert order_services.settle_filled(firing_id=claim.firing_id, now=now).status == "filled"
    assert order_services.settle_filled(firing_id=claim.firing_id, now=now) is None  # settled once
    with pytest.raises(FiringClosed), transaction.atomic():  # as record_pending_* calls it
        order_services.check_firing_open(claim.firing_id)


def test_refusals_rest_the_order_with_a_doubling_back_off_then_fail_it():
    wallet = get_or_create_user_wallet(4006, "retries").wallet
    order = Order.objects.create(user=wallet, token_mint=MINTS[0], token_decimals=6, kind="limit_buy",
                                 trigger_num=1, trigger_den=1, lamports=10**8)
    now = timezone.now()
    rests = []
    for _ in range(3):
        claim = order_services.claim_firing(order_id=order.pk, now=now)
        settled = order_services.settle_refused(firing_id=claim.firing_id, reason="insufficient_balance",
                                                permanent=False, now=now, retry_base_seconds=60)
        assert order_services.claim_firing(order_id=order.pk, now=now) is None  # resting (or failed)
        rests.append(settled.retry_at - now if settled.retry_at else None)
        now = settled.retry_at or now
    assert rests[:2] == [timedelta(seconds=60), timedelta(seconds=120)]
    assert settled.status == "failed" and settled.failure_reason == "insufficient_balance"
    assert list(OrderFiring.objects.filter(order=order).values_list("seq", "outcome")) == [
        (1, "refused"), (2, "refused"), (3, "refused")]


def test_a_dca_order_counts_its_parts_and_splits_the_rounding_into_the_last():
    wallet = get_or_create_user_wallet(4007, "dca").wallet
    now = timezone.now()
    order = order_services.place_order(telegram_user_id=4007, kind="dca_buy", mint=MINTS[0], decimals=6,
                                       lamports=100, parts=3, interval_seconds=60, next_run_at=now)
    parts = []
    for _ in range(3):
        claim = order_services.claim_firing(order_id=order.pk, now=now)
        parts.append(claim.lamports)
        settled = order_services.settle_filled(firing_id=claim.firing_id, now=now)
        assert order_services.claim_firing(order_id=order.pk, now=now) is None  # the next part waits its turn
        now += timedelta(seconds=60)
    assert parts == [33, 33, 34] and settled.status == "filled" and settled.parts_done == 3
    assert wallet.pk == settled.user_id
