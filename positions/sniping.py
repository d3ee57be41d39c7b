"""Sniping: buy a newly launched token for every user who turned it on, after safety checks, and record every
decision so it shows in /positions and the admin.

A token skipped for everyone (it failed the screening, its pool is too thin, sniping is paused for all) is one
SnipeLaunch row, however many users were sniping; only attempts made for a user (bought, refused for that user's own
reason, failed) are a Snipe row of theirs. Launches reach the buyer through a bounded LaunchQueue, so a burst of
launches costs bounded memory and a few concurrent workers, never a backlog of stale launches."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.db import IntegrityError
from django.db.models import Exists, OuterRef
from django.utils import timezone
from solders.pubkey import Pubkey

from custody.killswitch import Action as Switch
from custody.killswitch import active_switch
from kernel.chain.errors import ChainError, JupiterError
from kernel.chain.jupiter import SOL_MINT, JupiterClient
from kernel.db import db_call
from kernel.display import sol
from kernel.errors import UserFacingError
from kernel.metrics import SNIPE_LAUNCHES_DROPPED
from positions import paper as paper_book
from positions.models import Snipe, SnipeLaunch, Trade
from positions.screening import screen_mint
from positions.trading import TradingService
from wallets.models import UserSettings, UserWallet

logger = logging.getLogger(__name__)
CREATE_LOGS = ("Program log: Instruction: Create", "Program log: Instruction: CreateV2")
DATA_PREFIX = "Program data: "
CREATE_EVENT = hashlib.sha256(b"event:CreateEvent").digest()[:8]  # Anchor's event discriminator
MINT_WAIT_SECONDS = (0.1, 0.2, 0.3, 0.4, 0.5)  # a processed notification can come a slot or two before the mint
PROBE_FRACTION = 100  # the liquidity probes buy 1/100 and 1/10 of the minimum liquidity
PAUSED = "sniping is paused by the operators"  # for everyone (one launch row) or for one user (theirs)
PRUNE_BATCH = 5000  # rows per DELETE, so pruning a long backlog never holds one huge transaction


@dataclass(frozen=True)
class Launch:
    mint: str
    name: str
    symbol: str
    signature: str


@dataclass(frozen=True)
class SnipeOutcome:
    telegram_user_id: int
    mint: str
    status: str
    reason: str
    lamports: int
    trade_signature: str = ""
    paper: bool = False  # a snipe of a trader on paper: a paper buy


Notify = Callable[[SnipeOutcome], Awaitable[None]]
Word = Callable[[UserFacingError], str]


def parse_launch(logs: list[str], signature: str) -> Launch | None:
    """Read pump.fun's CreateEvent (8-byte discriminator, name, symbol, uri as u32-length strings, then the mint)
    from the log line after ``Instruction: Create``; None for anything else."""
    for index, line in enumerate(logs):
        if line not in CREATE_LOGS:
            continue
        for data_line in logs[index + 1:]:
            if data_line.startswith(DATA_PREFIX):
                return _decode_create_event(data_line[len(DATA_PREFIX):], signature)
    return None


def _decode_create_event(encoded: str, signature: str) -> Launch | None:
    try:
        data = base64.b64decode(encoded, validate=True)
        if data[:8] != CREATE_EVENT:  # another event (a trade in the same transaction): never decoded as a launch
            return None
        offset, texts = 8, []
        for _ in range(3):
            length = int.from_bytes(data[offset:offset + 4], "little")
            texts.append(data[offset + 4:offset + 4 + length].decode("utf-8", errors="replace"))
            offset += 4 + length
        mint = Pubkey.from_bytes(data[offset:offset + 32])
    except (ValueError, IndexError):
        return None
    return Launch(mint=str(mint), name=texts[0][:64], symbol=texts[1][:16], signature=signature)



async def pool_sol_lamports(jupiter: JupiterClient, mint: str, *, probe: int) -> int | None:
    """The SOL side of the pool a buy of ``mint`` goes through, read from two quotes (``probe`` and ten times it)
    rather than from a price API. In a constant-product pool (pump.fun's curve and the AMMs it graduates to) a buy's
    average price worsens with its size as (x + a) / (x + b), which gives x. None: too deep to tell (no measurable
    impact at these sizes), which passes any minimum."""
    probe = max(probe, 1)
    small, large = await asyncio.gather(
        jupiter.quote(input_mint=SOL_MINT, output_mint=mint, amount=probe, slippage_bps=100),
        jupiter.quote(input_mint=SOL_MINT, output_mint=mint, amount=probe * 10, slippage_bps=100))
    if small.out_amount <= 0 or large.out_amount <= 0:
        return 0
    ratio = Fraction(large.out_amount * probe, small.out_amount * probe * 10)  # (x + a) / (x + b)
    if ratio >= 1:
        return None
    return max(0, int((probe * 10 * ratio - probe) / (1 - ratio)))

class Sniper:
    def __init__(self, engine: TradingService, *, word: Word, notify: Notify | None = None) -> None:
        """``word`` turns a refused buy into the reason kept on the snipe row, which the trader reads later in
        /positions: the bot's own words (``telegrambot.texts.refusal``), given by whoever runs the sniper."""
        self.engine = engine
        self.word = word
        self.notify = notify
        # Several queue workers handle different launches at once, but one user's snipes still buy one at a time in
        # this process, as before the queue: their balance and daily limits are checked against settled buys.
        self._buying: dict[int, asyncio.Lock] = {}

    async def on_logs(self, logs: list[str], signature: str) -> list[SnipeOutcome]:
        launch = parse_launch(logs, signature)
        if launch is None:
            return []
        return await self.handle(launch)

    async def handle(self, launch: Launch) -> list[SnipeOutcome]:
        """Snipe one launch for every sniping user. A token-level skip is one SnipeLaunch row and its outcomes are
        returned but not notified (the bot never pushes skips: there are thousands a day)."""
        users = await _snipers()
        if not users or await _launch_skipped_already(launch.mint):
            return []
        token_problem = await _paused_for_everyone() or await self._screen(launch.mint)
        if token_problem:
            if not await _record_launch(launch, token_problem, users):
                return []  # a duplicate notification of a launch already handled
            return [SnipeOutcome(telegram_user_id, launch.mint, Snipe.Status.SKIPPED, token_problem, lamports)
                    for telegram_user_id, lamports in users]
        outcomes = []
        for telegram_user_id, lamports in users:
            outcome = await self._snipe_for(telegram_user_id, lamports, launch)
            if outcome is not None:
                outcomes.append(outcome)
                if self.notify is not None:
                    await self.notify(outcome)
        return outcomes

    async def _screen(self, mint: str) -> str:
        """Why the token must not be bought, or '' when it passes: authorities and liquidity. The launch was heard
        at ``processed``: the mint may show at ``confirmed`` only a slot or two later, so it is waited for. Price
        APIs know nothing of a token seconds old, so liquidity comes from the route itself (two quotes)."""
        try:
            info = await self.engine.rpc.mint_info(mint)
            for delay in MINT_WAIT_SECONDS:
                if info is not None:
                    break
                await asyncio.sleep(delay)
                info = await self.engine.rpc.mint_info(mint)
            if info is None:
                return "not a token mint"
            if info.mint_authority is not None:
                return "mint authority is not revoked (more tokens can be printed)"
            screening = screen_mint(info, max_transfer_fee_bps=self.engine.config.custody.max_transfer_fee_bps)
            if not screening.ok:
                return "; ".join(screening.refusals)
            minimum = self.engine.config.snipe_min_liquidity_sol
            liquidity = await pool_sol_lamports(self.engine.jupiter, mint, probe=int(minimum * 10**9) // PROBE_FRACTION)
        except (ChainError, JupiterError) as err:
            return f"could not check the token ({err})"
        if liquidity is not None and liquidity < minimum * 10**9:
            shown = (Decimal(liquidity) / 10**9).quantize(Decimal("0.01"))
            return f"liquidity {shown} SOL is below the {minimum} SOL minimum"
        return ""

    async def _snipe_for(self, telegram_user_id: int, lamports: int, launch: Launch) -> SnipeOutcome | None:
        if await db_call(active_switch)(Switch.SNIPING, telegram_user_id) is not None:
            return await _record(telegram_user_id, launch, Snipe.Status.SKIPPED, PAUSED, lamports)
        # The trader's book now, pinned for the whole snipe: a /paper between the claim and the buy changes nothing.
        paper = await db_call(paper_book.mode_of)(telegram_user_id, self.engine.config)
        if not await _claim(telegram_user_id, launch, lamports, paper):
            return None  # this launch was already handled for this user (a duplicate notification)
        try:
            async with self._buying.setdefault(telegram_user_id, asyncio.Lock()):
                result = await self.engine.execute_buy(telegram_user_id=telegram_user_id, mint=launch.mint,
                                                       lamports=lamports, automatic=True, paper=paper)
        except UserFacingError as err:
            return await _finish(telegram_user_id, launch, Snipe.Status.SKIPPED, self.word(err), lamports,
                                 paper=paper)
        return await _finish(telegram_user_id, launch, Snipe.Status.BOUGHT, f"bought for {sol(lamports)}", lamports,
                             result.signature, paper=paper)


class LaunchQueue:
    """Between the launch watcher and the sniper: the watcher only parses and enqueues (it never waits on a buy),
    ``workers`` tasks take launches off a queue of at most ``maxsize``. When it is full the oldest waiting launch is
    dropped (the newest is the one still worth buying: prices move in seconds), logged and counted."""

    def __init__(self, sniper: Sniper, *, maxsize: int, workers: int) -> None:
        self.sniper = sniper
        self.workers = workers
        self.dropped = 0
        self._queue: asyncio.Queue[Launch] = asyncio.Queue(maxsize)
        self._waiting: set[str] = set()  # mints in the queue: a duplicate notification is not queued twice
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    def qsize(self) -> int:
        return self._queue.qsize()

    async def on_logs(self, logs: list[str], signature: str) -> None:
        """The watcher's callback: returns at once."""
        launch = parse_launch(logs, signature)
        if launch is not None:
            self.offer(launch)

    def offer(self, launch: Launch) -> bool:
        """Queue a launch; False when it was not queued (already waiting, or the queue is closing)."""
        if self._closed:
            self._drop(launch, "shutdown")
            return False
        if launch.mint in self._waiting:
            return False
        if self._queue.full():
            self._drop(self._take(), "queue_full")
        self._queue.put_nowait(launch)
        self._waiting.add(launch.mint)
        return True

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work(), name=f"snipe-worker-{n}") for n in range(self.workers)]

    async def join(self) -> None:
        """Wait until every queued launch has been handled."""
        await self._queue.join()

    async def close(self, *, grace: float = 10.0) -> None:
        """Stop taking launches; drop the waiting ones (stale by the time the bot is back) and give the buys in
        flight ``grace`` seconds before cancelling them (a cancelled buy is pending at most, and reconciliation
        settles it from the chain)."""
        self._closed = True
        while not self._queue.empty():
            self._drop(self._take(), "shutdown")
        if self._tasks:
            try:
                async with asyncio.timeout(grace):
                    await self._queue.join()
            except TimeoutError:
                logger.warning("Snipe workers still busy after %.0f s at shutdown: cancelling them", grace)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []

    async def _work(self) -> None:
        while True:
            launch = await self._queue.get()
            self._waiting.discard(launch.mint)
            try:
                await self.sniper.handle(launch)
            except Exception:  # one launch's failure (database, chain) must not stop the worker
                logger.exception("Sniping the launch of %s failed", launch.mint)
            finally:
                self._queue.task_done()

    def _take(self) -> Launch:
        launch = self._queue.get_nowait()
        self._queue.task_done()
        self._waiting.discard(launch.mint)
        return launch

    def _drop(self, launch: Launch, reason: str) -> None:
        self.dropped += 1
        SNIPE_LAUNCHES_DROPPED.labels(reason=reason).inc()
        logger.warning("Snipe queue %s (%d waiting, at most %d): dropped the launch of %s",
                       "full" if reason == "queue_full" else "closing", self._queue.qsize(), self._queue.maxsize,
                       launch.mint)


def prune_snipes(*, days: int, now: datetime | None = None) -> tuple[int, int]:
    """Delete skipped launches and per-user skips older than ``days``; returns (launches, skips) deleted. Bought
    and failed snipes are kept, and so is a skip whose user has a trade in that token (an attempt that reached the
    chain stays explainable)."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    launches = _delete_in_batches(SnipeLaunch.objects.filter(created_at__lt=cutoff))
    traded = Trade.objects.filter(user_id=OuterRef("user_id"), token_mint=OuterRef("token_mint"))
    skips = _delete_in_batches(Snipe.objects.filter(created_at__lt=cutoff, status=Snipe.Status.SKIPPED,
                                                    trade_signature="").exclude(Exists(traded)))
    logger.info("Pruned %d skipped launches and %d skipped snipes older than %d days", launches, skips, days)
    return launches, skips


def _delete_in_batches(queryset) -> int:
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:PRUNE_BATCH]):
        count, _ = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += count
    return deleted


@db_call
def _snipers() -> list[tuple[int, int]]:
    return list(UserSettings.objects.filter(snipe_enabled=True, user__is_frozen=False, snipe_amount_lamports__gt=0)
                .values_list("user__telegram_user_id", "snipe_amount_lamports"))


@db_call
def _paused_for_everyone() -> str:
    return PAUSED if active_switch(Switch.SNIPING) is not None else ""


@db_call
def _launch_skipped_already(mint: str) -> bool:
    return SnipeLaunch.objects.filter(token_mint=mint).exists()


@db_call
def _record_launch(launch: Launch, reason: str, users: list[tuple[int, int]]) -> bool:
    """One row for a token skipped for everyone; False when this launch was already handled (a duplicate)."""
    if Snipe.objects.filter(token_mint=launch.mint).exists():
        return False  # an earlier notification of this launch got as far as buying: this one changes nothing
    try:
        SnipeLaunch.objects.create(token_mint=launch.mint, launch_signature=launch.signature, reason=reason[:500],
                                   users_affected=len(users), lamports=sum(lamports for _, lamports in users),
                                   detected_at=timezone.now())
    except IntegrityError:  # two notifications of one launch handled at once: the unique mint keeps one row
        return False
    return True


@db_call
def _claim(telegram_user_id: int, launch: Launch, lamports: int, paper: bool) -> bool:
    """Write the snipe row first (status failed until the buy ends), so a launch is bought at most once."""
    try:
        Snipe.objects.create(user=UserWallet.objects.get(telegram_user_id=telegram_user_id), token_mint=launch.mint,
                             launch_signature=launch.signature, status=Snipe.Status.FAILED,
                             reason="buy in progress", lamports=lamports, detected_at=timezone.now(), paper=paper)
    except IntegrityError:
        return False
    return True


@db_call
def _finish(telegram_user_id: int, launch: Launch, status: str, reason: str, lamports: int,
            trade_signature: str = "", *, paper: bool = False) -> SnipeOutcome:
    Snipe.objects.filter(user__telegram_user_id=telegram_user_id, token_mint=launch.mint).update(
        status=status, reason=reason[:500], trade_signature=trade_signature)
    return SnipeOutcome(telegram_user_id, launch.mint, status, reason, lamports, trade_signature, paper)


@db_call
def _record(telegram_user_id: int, launch: Launch, status: str, reason: str, lamports: int) -> SnipeOutcome | None:
    try:
        Snipe.objects.create(user=UserWallet.objects.get(telegram_user_id=telegram_user_id), token_mint=launch.mint,
                             launch_signature=launch.signature, status=status, reason=reason[:500],
                             lamports=lamports, detected_at=timezone.now())
    except IntegrityError:
        return None
    return SnipeOutcome(telegram_user_id, launch.mint, status, reason, lamports)
