"""The order engine: evaluates active orders against the monitor's prices and fires them, each at most once.

The monitor (``positions.monitor``) prices the active orders' mints in the same batched request as the open
positions', then hands the prices here. Each price becomes an exact rational once per mint (lamports per raw unit,
``positions.rational``) and every trigger is an integer comparison. A crossed trigger is confirmed with an exact
quote, claimed (``order_services.claim_firing``: the firing row, before any trade), and executed through the
ordinary trading service with ``automatic=True``: screening, limits, kill switches and inspection all apply.

Each cycle starts with the follow pass: an open firing whose trade settled (here, or by reconciliation after a
crash) moves its order on; one that wrote no trade sent nothing and is released to fire again: at once if it is older
than this engine (its process died: the monitor runs in one process at a time), else once it is an orphan by age.
Either way a released firing can never gain a trade (``order_services.check_firing_open``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.db import connection
from django.utils import timezone

from custody.errors import SwapRefused
from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import SOL_MINT
from kernel.crashpoints import crashpoint
from kernel.db import db_call
from kernel.errors import UserFacingError
from positions import order_services, rational
from positions.amounts import SellAmount
from positions.errors import (
    DailyLossLimitReached,
    DailySpendCapReached,
    InvalidAmount,
    InvalidMint,
    NoOpenPosition,
    SellAmountTooSmall,
    TokenRefused,
    TradeFailed,
    TradeTooLarge,
    UnknownToken,
    WrappedSolMint,
)
from positions.models import Order, Position, Trade
from positions.order_errors import FiringClosed
from positions.order_services import DCA_KINDS
from positions.rational import Rational
from positions.trading import BuyResult, SellResult, TradingService
from wallets.errors import WalletNotFound
from wallets.models import UserWallet

logger = logging.getLogger(__name__)
LIMIT_BUY, LIMIT_SELL = Order.Kind.LIMIT_BUY.value, Order.Kind.LIMIT_SELL.value
MAX_CONCURRENT_FIRINGS = 8
RETRY_BASE_SECONDS = 60  # a refused firing rests 60 s, then 120 s; the third refusal fails the order
ORPHAN_AFTER_SECONDS = 60  # an open firing with no trade this old was left by a dead process: release it (one older
# than the engine is released at its first cycle)
# Refusals that waiting cannot cure: the order fails at once, with the reason.
PERMANENT = (NoOpenPosition, SellAmountTooSmall, InvalidAmount, TokenRefused, UnknownToken,
             InvalidMint, WrappedSolMint, SwapRefused, WalletNotFound)
# A DCA stops as soon as the trader's own limits refuse a part.
DCA_STOPS = (TradeTooLarge, DailyLossLimitReached, DailySpendCapReached)


@dataclass(slots=True)
class Watched:
    """One active order, as the cycle reads it (plain values: this runs over every active order)."""

    order_id: int
    user_id: int
    mint: str
    decimals: int
    kind: str
    trigger: Rational | None
    lamports: int
    sell_amount: str
    trail_percent: Decimal | None
    activation: Rational | None
    peak: Rational | None
    next_run_at: datetime | None
    expires_at: datetime | None
    retry_at: datetime | None
    telegram_user_id: int = 0  # looked up only for the orders that fire
    version: int = 0
    paper: bool = False  # placed on paper: fires paper trades


@dataclass
class Book:
    orders: list[Watched] = field(default_factory=list)
    events: list[OrderEvent] = field(default_factory=list)  # settled by the follow pass, or expired
    by_mint: dict[str, list[Watched]] = field(default_factory=dict)  # the orders a price triggers
    clocked: list[Watched] = field(default_factory=list)  # the orders the clock triggers (DCA)

    def __post_init__(self) -> None:
        for w in self.orders:
            if w.kind in DCA_KINDS:
                self.clocked.append(w)
            else:
                self.by_mint.setdefault(w.mint, []).append(w)

    @property
    def mints(self) -> set[str]:
        return set(self.by_mint)


@dataclass(frozen=True)
class OrderEvent:
    """Something the trader is told: an order (or a DCA part) filled, an order failed for good, or expired."""

    order: Order
    telegram_user_id: int
    result: BuyResult | SellResult | None = None  # None when the fill was settled by the follow pass
    error: UserFacingError | None = None

    @property
    def status(self) -> str:
        return self.order.status


Notify = Callable[[OrderEvent], Awaitable[None]]


class OrderEngine:
    """One per bot process, driven by the monitor's cycle. ``on_point`` runs at each named crash point (the proof
    kills the process there; tests raise)."""

    def __init__(self, trading: TradingService, *, notify: Notify | None = None,
                 retry_base_seconds: float = RETRY_BASE_SECONDS, orphan_after_seconds: float = ORPHAN_AFTER_SECONDS,
                 on_point: Callable[[str], None] | None = None, now: Callable[[], datetime] = timezone.now) -> None:
        self.trading = trading
        self.notify = notify
        self.retry_base_seconds = retry_base_seconds
        self.orphan_after_seconds = orphan_after_seconds
        self.on_point = on_point
        self.now = now
        self.started_at = now()  # open firings older than this engine were left by a process that died
        self._in_flight: set[int] = set()  # orders this engine is firing right now
        self._cache: dict[int, Watched] = {}  # the active orders as last read, by id

    async def book(self) -> Book:
        """Follow open firings, expire what is due, and read the active orders (new and changed ones only)."""
        events = await self._follow()
        now = self.now()
        self._cache = await _active_orders(self._cache, paper_only=self.trading.config.paper_trading)
        rows = list(self._cache.values())
        expired = [w for w in rows if w.expires_at is not None and w.expires_at <= now]
        if expired:
            await db_call(order_services.expire_orders)([w.order_id for w in expired], now)
            closed = await db_call(_orders_by_id)([w.order_id for w in expired])
            await _add_telegram_ids(expired)
            events += [OrderEvent(closed[w.order_id], w.telegram_user_id) for w in expired
                       if closed[w.order_id].status == Order.Status.EXPIRED]
        gone = {w.order_id for w in expired}
        return Book(orders=[w for w in rows if w.order_id not in gone], events=events)

    async def run(self, book: Book, prices: dict[str, Decimal]) -> list[OrderEvent]:
        """Fire what the prices (SOL per whole token, by mint) and the clock say is due; tell of what happened."""
        due, peaks = self.due(book, prices)
        if peaks:
            await db_call(order_services.save_peaks)(peaks)
            for order_id, _ in peaks:  # the statement raised their versions: the cache holds the new peaks already
                if (cached := self._cache.get(order_id)) is not None:
                    cached.version += 1
        if due:
            await _add_telegram_ids(due)
        gate = asyncio.Semaphore(MAX_CONCURRENT_FIRINGS)

        async def fire(watched: Watched) -> OrderEvent | None:
            async with gate:
                return await self._fire(watched)

        fired = [e for e in await asyncio.gather(*[fire(w) for w in due]) if e is not None]
        events = book.events + fired
        if self.notify is not None:
            for event in events:
                await self.notify(event)
        return events

    def due(self, book: Book, prices: dict[str, Decimal]) -> tuple[list[Watched], list[tuple[int, Rational]]]:
        """Pure arithmetic over the book: the orders to fire, and the trailing stops' new peaks. The inner loop is
        inlined cross-multiplication: it runs over every active order every cycle."""
        now = self.now()
        due: list[Watched] = []
        peaks: list[tuple[int, Rational]] = []
        busy = self._in_flight
        for w in book.clocked:
            if w.order_id not in busy and (w.retry_at is None or w.retry_at <= now) and (
                    w.next_run_at is None or w.next_run_at <= now):
                due.append(w)
        for mint, watched in book.by_mint.items():
            sol_price = prices.get(mint)
            if sol_price is None:
                continue
            pn, pd = price = rational.per_raw_unit(sol_price, watched[0].decimals)
            stored: list[Rational | None] = []  # the price as a new peak is stored, worked out once per mint
            for w in watched:
                if w.order_id in busy or (w.retry_at is not None and w.retry_at > now):
                    continue
                kind = w.kind
                if kind == LIMIT_BUY:
                    tn, td = w.trigger
                    if pn * td <= tn * pd:
                        due.append(w)
                elif kind == LIMIT_SELL:
                    tn, td = w.trigger
                    if pn * td >= tn * pd:
                        due.append(w)
                elif self._trailing(w, price, peaks, stored):
                    due.append(w)
        return due, peaks

    @staticmethod
    def _trailing(w: Watched, price: Rational, peaks: list[tuple[int, Rational]], stored: list) -> bool:
        if w.peak is None and w.activation is not None and not rational.at_least(price, w.activation):
            return False  # not armed yet
        if w.peak is None or rational.above(price, w.peak):
            if not stored:
                stored.append(rational.fit_u64(price))
            peak = stored[0]
            w.peak = peak or price
            if peak is not None:
                peaks.append((w.order_id, peak))
            return False  # at a new high: nowhere near the stop
        return rational.at_most(price, stop_price(w))

    async def _fire(self, watched: Watched) -> OrderEvent | None:
        self._in_flight.add(watched.order_id)
        try:
            if not await self._confirmed(watched):
                return None
            claim = await db_call(order_services.claim_firing)(order_id=watched.order_id, now=self.now())
            if claim is None:
                return None  # claimed elsewhere, cancelled, resting or expired meanwhile
            self._point("order.claimed")
            try:
                result = await self._execute(watched, claim)
            except TradeFailed as failed:
                if failed.reason in (TradeFailed.Reason.STATUS_UNKNOWN, TradeFailed.Reason.DETAILS_PENDING):
                    return None  # the trade is pending: reconciliation settles it, the follow pass the order
                return await self._refused(watched, claim, failed, permanent=False)
            except FiringClosed:
                return None
            except UserFacingError as err:
                return await self._refused(watched, claim, err, permanent=_permanent(watched.kind, err))
            self._point("order.fired")
            order = await db_call(order_services.settle_filled)(firing_id=claim.firing_id, now=self.now())
            logger.info("Order %s fired (firing %s): %s", watched.order_id, claim.seq, result.signature)
            return OrderEvent(order, watched.telegram_user_id, result=result) if order is not None else None
        finally:
            self._in_flight.discard(watched.order_id)

    async def _execute(self, watched: Watched, claim: order_services.Claim) -> BuyResult | SellResult:
        if watched.kind in (Order.Kind.LIMIT_BUY, Order.Kind.DCA_BUY):
            return await self.trading.execute_buy(telegram_user_id=watched.telegram_user_id, mint=watched.mint,
                                                  lamports=claim.lamports, automatic=True,
                                                  order_firing_id=claim.firing_id, paper=watched.paper)
        return await self.trading.execute_sell(telegram_user_id=watched.telegram_user_id, mint=watched.mint,
                                               amount=SellAmount.parse(claim.sell_amount or "all"), automatic=True,
                                               order_firing_id=claim.firing_id, paper=watched.paper)

    async def _refused(self, watched: Watched, claim: order_services.Claim, err: UserFacingError, *,
                       permanent: bool) -> OrderEvent | None:
        """Rest the order, or fail it (told once, with the reason) when waiting cannot help or after three tries."""
        order = await db_call(order_services.settle_refused)(
            firing_id=claim.firing_id, reason=f"{err.code}: {err}", permanent=permanent, now=self.now(),
            retry_base_seconds=self.retry_base_seconds)
        logger.info("Order %s firing %s refused (%s)", watched.order_id, claim.seq, err.code)
        if order is None or order.status != Order.Status.FAILED:
            return None  # resting: the trader hears only of the final outcome
        return OrderEvent(order, watched.telegram_user_id, error=err)

    async def _confirmed(self, watched: Watched) -> bool:
        """Check the trigger against an exact quote for the amount the order would trade (as the stop loss does):
        the batch price is an estimate, the quote is what the swap would give."""
        if watched.kind in DCA_KINDS:
            return True
        try:
            if watched.kind == Order.Kind.LIMIT_BUY:
                quote = await self.trading.jupiter.quote(input_mint=SOL_MINT, output_mint=watched.mint,
                                                         amount=watched.lamports, slippage_bps=10_000)
                # the price paid, lamports / raw units out, at or below the trigger
                return quote.out_amount > 0 and rational.at_most((watched.lamports, quote.out_amount), watched.trigger)
            raw = await _sell_raw(watched)
            if raw is None:
                return True  # the position is gone or too small: the trading service refuses, and says why
            quote = await self.trading.jupiter.quote(input_mint=watched.mint, output_mint=SOL_MINT, amount=raw,
                                                     slippage_bps=10_000)
        except JupiterError:
            return False
        exit_price = (quote.out_amount, raw)
        if watched.kind == Order.Kind.LIMIT_SELL:
            return rational.at_least(exit_price, watched.trigger)
        return rational.at_most(exit_price, stop_price(watched))

    async def _follow(self) -> list[OrderEvent]:
        """Move orders on from their firings' trades; release firings that wrote no trade and are orphans."""
        events = []
        now = self.now()
        for state in await db_call(order_services.open_firings)():
            if state.order_id in self._in_flight:
                continue
            if state.trade_status is None:
                orphaned = (state.created_at < self.started_at
                            or now - state.created_at >= timedelta(seconds=self.orphan_after_seconds))
                if orphaned and await db_call(order_services.abandon_firing)(firing_id=state.firing_id, now=now):
                    logger.warning("Released order %s: its firing %s sent nothing", state.order_id, state.firing_id)
                continue
            if state.trade_status == Trade.Status.CONFIRMED:
                order = await db_call(order_services.settle_filled)(firing_id=state.firing_id, now=now)
            elif state.trade_status == Trade.Status.FAILED:
                order = await db_call(order_services.settle_refused)(
                    firing_id=state.firing_id, reason=f"the trade failed on chain: {state.trade_error}",
                    permanent=False, now=now, retry_base_seconds=self.retry_base_seconds)
                order = order if order is not None and order.status == Order.Status.FAILED else None
            else:
                continue  # still pending: reconciliation settles it first
            if order is not None:
                events.append(OrderEvent(order, state.telegram_user_id))
        return events

    def _point(self, name: str) -> None:
        crashpoint(name)
        if self.on_point is not None:
            self.on_point(name)


def stop_price(watched: Watched) -> Rational:
    """A trailing stop's trigger: its peak × (100 − percent) / 100."""
    return rational.scaled(watched.peak, (100 - Fraction(watched.trail_percent)) / 100)


def _permanent(kind: str, err: UserFacingError) -> bool:
    return isinstance(err, PERMANENT) or (kind in DCA_KINDS and isinstance(err, DCA_STOPS))


FULL_READ_OVER = 2_000  # changed orders above which one full read beats a read by ids
_COLUMNS = ("id", "version", "user_id", "token_mint", "token_decimals", "kind", "trigger_num", "trigger_den",
            "lamports", "sell_amount", "trail_percent", "activation_num", "activation_den", "peak_num", "peak_den",
            "next_run_at", "expires_at", "retry_at", "paper")


@db_call
def _active_orders(cache: dict[int, Watched], *, paper_only: bool = False) -> dict[int, Watched]:
    """Every active order of an unfrozen user, by id, in three queries whatever their number: the active orders'
    (id, version) pairs, read raw; the orders that are new or changed since ``cache`` (all of them at first);
    the frozen users. Unchanged orders are ``cache``'s own objects: reading 100,000 full rows every few seconds
    would cost more than everything else in the cycle."""
    active = Order.objects.filter(status=Order.Status.ACTIVE)
    if paper_only:  # PAPER_TRADING: real orders wait, active, until real trading is back
        active = active.filter(paper=True)
    sql, params = active.values_list("id", "version").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        versions = cursor.fetchall()
    stale = [pk for pk, version in versions if (cached := cache.get(pk)) is None or cached.version != version]
    fresh: dict[int, Watched] = {}
    if stale:
        changed = active if len(stale) > FULL_READ_OVER else active.filter(pk__in=stale)
        fresh = {row[0]: _watched(row) for row in changed.values_list(*_COLUMNS)}
    frozen = set(UserWallet.objects.filter(is_frozen=True).values_list("id", flat=True))
    book = {}
    for pk, _ in versions:
        watched = fresh.get(pk) or cache.get(pk)
        if watched is not None and watched.user_id not in frozen:
            book[pk] = watched
    return book


def _watched(row: tuple) -> Watched:
    (pk, version, user_id, mint, decimals, kind, tn, td, lamports, sell_amount, trail, an, ad, pn, pd, next_run,
     expires, retry, paper) = row
    return Watched(pk, user_id, mint, decimals, kind, None if tn is None else (tn, td), lamports, sell_amount, trail,
                   None if an is None else (an, ad), None if pn is None else (pn, pd), next_run, expires, retry,
                   version=version, paper=paper)


async def _add_telegram_ids(watched: list[Watched]) -> None:
    ids = await db_call(_telegram_ids)({w.user_id for w in watched})
    for w in watched:
        w.telegram_user_id = ids[w.user_id]


def _telegram_ids(user_ids: set[int]) -> dict[int, int]:
    return dict(UserWallet.objects.filter(pk__in=user_ids).values_list("id", "telegram_user_id"))


@db_call
def _sell_raw(watched: Watched) -> int | None:
    position = (Position.objects.filter(user__telegram_user_id=watched.telegram_user_id, token_mint=watched.mint,
                                        is_open=True, paper=watched.paper)
                .only("remaining_amount_raw", "reserved_raw", "token_decimals")
                .first())
    if position is None:
        return None
    available = position.remaining_amount_raw - position.reserved_raw
    try:
        raw = SellAmount.parse(watched.sell_amount or "all").to_raw(remaining_raw=available,
                                                                    decimals=position.token_decimals)
    except UserFacingError:
        return None
    return raw if 0 < raw <= available else None


def _orders_by_id(ids: list[int]) -> dict[int, Order]:
    return Order.objects.in_bulk(ids)

