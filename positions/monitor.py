"""Stop loss and take profit: a periodic cycle over all open positions.

Positions are grouped by mint and priced in batches (one price request per 50 mints); a position past its
threshold is checked again against an exact sell quote, then sold in full through the ordinary sell service, so
locks, reservations, the ledger and reconciliation are the same as for a trader's own sell. With several bot
processes on PostgreSQL, an advisory lock lets exactly one run a cycle. With an ``OrderEngine``
(``positions.orders``), the active orders' mints are priced in the same requests and the orders evaluated in the
same cycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from django.db import connection

from custody.errors import ActionPaused
from kernel.chain.budget import BudgetExhausted
from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import SOL_MINT
from kernel.db import db_call
from kernel.errors import UserFacingError
from kernel.metrics import MONITOR_CYCLES_DEFERRED
from positions.amounts import SellAmount
from positions.errors import AlreadySelling, NoOpenPosition, SellAmountTooLarge
from positions.models import Position, own_or_default
from positions.orders import OrderEngine, OrderEvent
from positions.selectors import value_lamports
from positions.trading import SellResult, TradingService

logger = logging.getLogger(__name__)
ADVISORY_LOCK_KEY = 0x5EC0_7A1E  # "sl/tp monitor"
MAX_CONCURRENT_SELLS = 8
RETRY_AFTER_FAILURE_SECONDS = 60  # a sale that failed (slippage in a crash, say) is retried, but not every cycle


class Rule(Enum):
    STOP_LOSS = "stop loss"
    TAKE_PROFIT = "take profit"


@dataclass(frozen=True)
class Watched:
    position_id: int
    telegram_user_id: int
    mint: str
    decimals: int
    remaining_raw: int
    cost_lamports: int
    stop_loss: Decimal | None
    take_profit: Decimal | None
    paper: bool = False  # a paper position: its exit is a paper sale


@dataclass(frozen=True)
class Trigger:
    watched: Watched
    rule: Rule
    price_sol: Decimal
    result: SellResult | None = None
    error: UserFacingError | None = None  # why the sale did not go through; the notifier words it


@dataclass
class CycleReport:
    ran: bool = True
    positions: int = 0
    mints: int = 0
    price_requests: int = 0
    deferred: bool = False  # put off: the swap API's request budget is kept for trades
    triggers: list[Trigger] = field(default_factory=list)
    orders: int = 0  # active orders watched
    order_events: list[OrderEvent] = field(default_factory=list)


Notify = Callable[[Trigger], Awaitable[None]]


class Monitor:
    def __init__(self, engine: TradingService, *, notify: Notify | None = None,
                 retry_after_seconds: float = RETRY_AFTER_FAILURE_SECONDS, orders: OrderEngine | None = None) -> None:
        self.engine = engine
        self.orders = orders  # evaluated in the same cycle, priced in the same requests
        self.notify = notify
        self.retry_after_seconds = retry_after_seconds
        self._selling: set[int] = set()  # positions this process is selling right now
        self._resting: dict[int, float] = {}  # position id -> monotonic time before which it is not retried
        self._told_paused: set[int] = set()  # positions whose owner was told that sells are paused

    async def run_cycle(self) -> CycleReport:
        if not await _take_lock():
            return CycleReport(ran=False)
        try:
            return await self._cycle()
        finally:
            await _release_lock()

    async def _cycle(self) -> CycleReport:
        now = time.monotonic()
        watched = [w for w in await _watched_positions(paper_only=self.engine.config.paper_trading)
                   if w.position_id not in self._selling and self._resting.get(w.position_id, 0) <= now]
        book = await self.orders.book() if self.orders is not None else None
        mints = sorted({w.mint for w in watched} | (book.mints if book is not None else set()))
        report = CycleReport(positions=len(watched), mints=len(mints),
                             orders=len(book.orders) if book is not None else 0)
        prices: dict[str, Decimal] = {}
        if mints:
            report.price_requests = -(-len(mints) // 50)
            try:
                prices = await self.engine.jupiter.sol_prices(mints, background=True)
            except BudgetExhausted:
                MONITOR_CYCLES_DEFERRED.inc()
                report.deferred, report.price_requests = True, 0  # trades go first; the next cycle tries again
            except JupiterError as err:
                logger.warning("Monitor skipped a cycle's prices: unavailable (%s)", err)
        # Without prices, only what the clock makes due runs (DCA parts); the next cycle tries the prices again.
        candidates = [(w, rule, prices[w.mint]) for w in watched if w.mint in prices
                      for rule in [_crossed(w, prices[w.mint])] if rule is not None]
        gate = asyncio.Semaphore(MAX_CONCURRENT_SELLS)

        async def fire(item):
            async with gate:
                return await self._confirm_and_sell(*item)

        sells, report.order_events = await asyncio.gather(
            asyncio.gather(*[fire(c) for c in candidates]),
            self.orders.run(book, prices) if book is not None else asyncio.sleep(0, result=[]))
        report.triggers = [t for t in sells if t is not None]
        return report

    async def _confirm_and_sell(self, watched: Watched, rule: Rule, price: Decimal) -> Trigger | None:
        """Check the threshold against an exact quote for the whole position, then sell it all."""
        self._selling.add(watched.position_id)
        try:
            try:
                quote = await self.engine.jupiter.quote(input_mint=watched.mint, output_mint=SOL_MINT,
                                                        amount=watched.remaining_raw, slippage_bps=10_000)
            except JupiterError:
                return None
            if _rule_for_value(watched, quote.out_amount) is not rule:
                return None  # the batch price said yes, the real exit price says no
            try:
                result = await self.engine.execute_sell(telegram_user_id=watched.telegram_user_id,
                                                        mint=watched.mint, amount=SellAmount.all(), automatic=True,
                                                        paper=watched.paper)
                trigger = Trigger(watched, rule, price, result=result)
                self._told_paused.discard(watched.position_id)
            except (NoOpenPosition, SellAmountTooLarge, AlreadySelling):
                return None  # another sell (the trader's, or another monitor's) got there first
            except ActionPaused as err:
                # Tell the trader once; a pause can last hours, and a message a minute helps nobody.
                self._resting[watched.position_id] = time.monotonic() + self.retry_after_seconds
                if watched.position_id in self._told_paused:
                    return None
                self._told_paused.add(watched.position_id)
                trigger = Trigger(watched, rule, price, error=err)
            except UserFacingError as err:
                trigger = Trigger(watched, rule, price, error=err)
                self._resting[watched.position_id] = time.monotonic() + self.retry_after_seconds
            logger.info("%s fired for position %s", rule.value, watched.position_id)
            if self.notify is not None:
                await self.notify(trigger)
            return trigger
        finally:
            self._selling.discard(watched.position_id)


def _crossed(watched: Watched, price_sol: Decimal) -> Rule | None:
    return _rule_for_value(watched, value_lamports(watched.remaining_raw, watched.decimals, price_sol))


def _rule_for_value(watched: Watched, value: int) -> Rule | None:
    """Integer comparisons: value × 100 against cost × (100 ∓ threshold)."""
    cost = watched.cost_lamports
    if cost <= 0:
        return None
    if watched.stop_loss is not None and value * 100 <= cost * (100 - watched.stop_loss):
        return Rule.STOP_LOSS
    if watched.take_profit is not None and value * 100 >= cost * (100 + watched.take_profit):
        return Rule.TAKE_PROFIT
    return None


@db_call
def _watched_positions(*, paper_only: bool = False) -> list[Watched]:
    """Open, unreserved positions of unfrozen users with at least one threshold (the position's own, else the
    user's). One query, read as plain rows: this runs every few seconds over every open position. ``paper_only``
    (PAPER_TRADING): real positions are left alone, as no real trade may be made."""
    positions = Position.objects.filter(is_open=True, user__is_frozen=False, reserved_raw=0)
    rows = ((positions.filter(paper=True) if paper_only else positions)
            .values_list("id", "user__telegram_user_id", "token_mint", "token_decimals", "remaining_amount_raw",
                         "remaining_cost_lamports", "stop_loss_percentage", "take_profit_percentage",
                         "user__settings__stop_loss_percentage", "user__settings__take_profit_percentage", "paper"))
    watched = []
    for pk, user_id, mint, decimals, remaining, cost, own_sl, own_tp, user_sl, user_tp, paper in rows:
        stop_loss, take_profit = own_or_default(own_sl, user_sl), own_or_default(own_tp, user_tp)
        if stop_loss is not None or take_profit is not None:
            watched.append(Watched(pk, user_id, mint, decimals, remaining, cost, stop_loss, take_profit, paper))
    return watched


@db_call
def _take_lock() -> bool:
    if connection.vendor != "postgresql":
        return True  # SQLite means one process: it runs the monitor
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        return bool(cursor.fetchone()[0])


@db_call
def _release_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
