"""Database writes of orders: place, claim a firing, settle it, cancel, expire. Each is one short transaction; the
chain is never called here.

At most once: an order fires only through ``claim_firing``, which under the order's row lock writes an
``OrderFiring`` (unique per order and sequence number) and moves the order to ``firing`` before any trade starts.
The trade's pending row names its firing (``Trade.order_firing``, unique), and is written only while the firing is
still open (``check_firing_open``, under the firing's row lock). So a firing either has its one trade, whose outcome
the order follows, or sent nothing and may be released (``abandon_firing``) — never both, never two trades.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.db import connection, transaction
from django.db.models import F

from positions.models import Order, OrderFiring, Trade
from positions.order_errors import FiringClosed, OrderNotCancellable, OrderNotFound, TooManyOrders
from positions.rational import Rational
from wallets.errors import WalletNotFound
from wallets.models import UserWallet

MAX_ACTIVE_ORDERS_PER_USER = 100
DCA_KINDS = (Order.Kind.DCA_BUY, Order.Kind.DCA_SELL)
MAX_ATTEMPTS = 3  # refusals in a row before an order fails for good


@dataclass(frozen=True)
class Claim:
    """A firing written and its order moved to ``firing``: the go-ahead for exactly one trade."""

    order_id: int
    firing_id: int
    seq: int
    lamports: int  # a buy's amount for this firing (a DCA part)
    sell_amount: str


@dataclass(frozen=True)
class FiringState:
    """An open firing, as the follow pass sees it: with its trade's status, or none if no trade was written."""

    firing_id: int
    order_id: int
    telegram_user_id: int
    created_at: datetime
    trade_status: str | None
    trade_error: str


def place_order(*, telegram_user_id: int, kind: str, mint: str, decimals: int, trigger: Rational | None = None,
                trigger_text: str = "", lamports: int = 0, sell_amount: str = "", trail_percent: Decimal | None = None,
                activation: Rational | None = None, peak: Rational | None = None, parts: int = 0,
                interval_seconds: int = 0, next_run_at: datetime | None = None,
                expires_at: datetime | None = None, paper: bool = False) -> Order:
    with transaction.atomic():
        # The wallet's row lock serialises one trader's placements, so the cap holds with several workers.
        wallet = UserWallet.objects.select_for_update().filter(telegram_user_id=telegram_user_id).first()
        if wallet is None:
            raise WalletNotFound()
        # Each book (real, paper) has its own cap: paper orders never stand in the way of a real one.
        live = Order.objects.filter(user=wallet, paper=paper,
                                    status__in=[Order.Status.ACTIVE, Order.Status.FIRING]).count()
        if live >= MAX_ACTIVE_ORDERS_PER_USER:
            raise TooManyOrders(MAX_ACTIVE_ORDERS_PER_USER)
        return Order.objects.create(
            user=wallet, token_mint=mint, token_decimals=decimals, kind=kind, trigger_text=trigger_text[:60],
            trigger_num=trigger[0] if trigger else None, trigger_den=trigger[1] if trigger else None,
            lamports=lamports, sell_amount=sell_amount, trail_percent=trail_percent,
            activation_num=activation[0] if activation else None, activation_den=activation[1] if activation else None,
            peak_num=peak[0] if peak else None, peak_den=peak[1] if peak else None, parts=parts,
            interval_seconds=interval_seconds, next_run_at=next_run_at, expires_at=expires_at, paper=paper)


def claim_firing(*, order_id: int, now: datetime) -> Claim | None:
    """Start one firing of an active, due order; None if it is not (another process claimed it, it was cancelled,
    it is resting after a refusal, it expired)."""
    with transaction.atomic():
        # The row lock (and SQLite's one writer) makes the check and the move one step: two monitors, or a
        # monitor and a trader's Cancel, cannot both see it active.
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status != Order.Status.ACTIVE:
            return None
        if order.expires_at is not None and order.expires_at <= now:
            _close(order, Order.Status.EXPIRED, now)
            return None
        if (order.retry_at is not None and order.retry_at > now) or (
                order.kind in DCA_KINDS and order.next_run_at is not None and order.next_run_at > now):
            return None
        seq = order.firings_started + 1
        firing = OrderFiring.objects.create(order=order, seq=seq)
        order.firings_started, order.status = seq, Order.Status.FIRING
        order.save(update_fields=["firings_started", "status"])
    return Claim(order_id=order.pk, firing_id=firing.pk, seq=seq, lamports=_firing_lamports(order),
                 sell_amount=_firing_sell_amount(order))


def check_firing_open(firing_id: int) -> None:
    """Called in the transaction that writes a trade's pending row: lock the firing and refuse if it was settled
    (released as orphaned, say), so a released firing can never gain a trade."""
    firing = OrderFiring.objects.select_for_update().filter(pk=firing_id).first()
    if firing is None or firing.outcome != OrderFiring.Outcome.OPEN:
        raise FiringClosed()


def settle_filled(*, firing_id: int, now: datetime) -> Order | None:
    """The firing's trade went through: the order is filled (a DCA order counts the part and waits for the next).
    None if the firing was settled already (the engine and the follow pass race; the first one wins)."""
    with transaction.atomic():
        firing, order = _locked(firing_id)
        if firing is None:
            return None
        _settle(firing, OrderFiring.Outcome.FILLED, now)
        order.attempts, order.retry_at = 0, None
        if order.kind in DCA_KINDS:
            order.parts_done += 1
            order.next_run_at = now + timedelta(seconds=order.interval_seconds)
            if order.parts_done < order.parts:
                order.status = Order.Status.ACTIVE
                order.save()
                return order
        _close(order, Order.Status.FILLED, now)
    return order


def settle_refused(*, firing_id: int, reason: str, permanent: bool, now: datetime,
                   retry_base_seconds: float) -> Order | None:
    """The firing did not trade (refused before sending, or its trade failed on chain). A refusal that may pass
    rests the order (back-off doubling from ``retry_base_seconds``); a permanent one, or the third in a row,
    fails it with the reason."""
    with transaction.atomic():
        firing, order = _locked(firing_id)
        if firing is None:
            return None
        _settle(firing, OrderFiring.Outcome.REFUSED, now, error=reason)
        order.attempts += 1
        if permanent or order.attempts >= MAX_ATTEMPTS:
            order.failure_reason = reason[:2000]
            _close(order, Order.Status.FAILED, now)
            return order
        order.status = Order.Status.ACTIVE
        order.retry_at = now + timedelta(seconds=retry_base_seconds * 2 ** (order.attempts - 1))
        order.save()
    return order


def abandon_firing(*, firing_id: int, now: datetime) -> bool:
    """Release a firing that wrote no trade (its process died before the pending row): nothing was sent, so the
    order is active again and may fire. False if it has a trade after all, or was settled."""
    with transaction.atomic():
        firing, order = _locked(firing_id)
        if firing is None or Trade.objects.filter(order_firing_id=firing_id).exists():
            return False
        _settle(firing, OrderFiring.Outcome.ABANDONED, now)
        if order.status == Order.Status.FIRING:
            order.status = Order.Status.ACTIVE
            order.save(update_fields=["status"])
    return True


def open_firings() -> list[FiringState]:
    """Every open firing with its trade's status, in one query."""
    rows = (OrderFiring.objects.filter(outcome=OrderFiring.Outcome.OPEN)
            .values_list("id", "order_id", "order__user__telegram_user_id", "created_at", "trade__status",
                         "trade__error"))
    return [FiringState(pk, order_id, user_id, created, status, error or "")
            for pk, order_id, user_id, created, status, error in rows]


def cancel_order(*, telegram_user_id: int, order_id: int, now: datetime) -> Order:
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id, user__telegram_user_id=telegram_user_id).first()
        if order is None:
            raise OrderNotFound()
        if order.status != Order.Status.ACTIVE:  # a firing order is trading right now: it cannot be called back
            raise OrderNotCancellable(order.status)
        _close(order, Order.Status.CANCELLED, now)
    return order


def expire_orders(order_ids: list[int], now: datetime) -> int:
    return Order.objects.filter(pk__in=order_ids, status=Order.Status.ACTIVE).update(
        status=Order.Status.EXPIRED, closed_at=now, version=F("version") + 1)


def save_peaks(peaks: list[tuple[int, Rational]]) -> None:
    """Persist trailing stops' new highs so a restart does not reset them: one statement executed for every row
    (``executemany``; a CASE-per-row ``bulk_update`` costs quadratic time on SQLite at thousands of rows)."""
    field = Order._meta.get_field("peak_num")
    prep = functools.partial(field.get_db_prep_value, connection=connection, prepared=False)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {Order._meta.db_table} SET peak_num = %s, peak_den = %s, version = version + 1 "
                           "WHERE id = %s",
                           [(prep(num), prep(den), pk) for pk, (num, den) in peaks])


def live_orders(telegram_user_id: int) -> list[Order]:
    """A trader's active and firing orders, oldest first (as /orders numbers them)."""
    return list(Order.objects.filter(user__telegram_user_id=telegram_user_id,
                                     status__in=[Order.Status.ACTIVE, Order.Status.FIRING]).order_by("pk"))


def _firing_sell_amount(order: Order) -> str:
    """A sale's amount for this firing. A DCA sell sells an equal share of what is left at each part (a third, then
    a half, then all, in three parts), so the parts stay even whatever the trader sold meanwhile, and the last one
    empties the position."""
    if order.kind != Order.Kind.DCA_SELL:
        return order.sell_amount
    left = order.parts - order.parts_done
    if left <= 1:
        return "all"
    return f"{(Decimal(100) / left).quantize(Decimal('1e-18'), rounding=ROUND_DOWN)}%"  # rounds down a raw unit at most


def _firing_lamports(order: Order) -> int:
    if order.kind != Order.Kind.DCA_BUY:
        return order.lamports
    part = order.lamports // order.parts
    if order.parts_done == order.parts - 1:
        return order.lamports - part * (order.parts - 1)  # the last part takes what rounding left over
    return part


def _locked(firing_id: int) -> tuple[OrderFiring | None, Order | None]:
    firing = OrderFiring.objects.select_for_update().filter(pk=firing_id).first()
    if firing is None or firing.outcome != OrderFiring.Outcome.OPEN:
        return None, None
    return firing, Order.objects.select_for_update().get(pk=firing.order_id)


def _settle(firing: OrderFiring, outcome: str, now: datetime, *, error: str = "") -> None:
    firing.outcome, firing.settled_at, firing.error = outcome, now, error[:2000]
    firing.save(update_fields=["outcome", "settled_at", "error"])


def _close(order: Order, status: str, now: datetime) -> None:
    order.status, order.closed_at = status, now
    order.save()
