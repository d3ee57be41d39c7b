"""Sniping: buy a newly launched token for every user who turned it on, after safety checks, and record every
decision (bought or skipped, with the reason) so it shows in /positions and the admin."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError
from django.utils import timezone
from solders.pubkey import Pubkey

from custody.killswitch import Action as Switch
from custody.killswitch import active_switch
from positions.errors import TradingError
from positions.models import Snipe
from positions.screening import screen_mint
from positions.trading import TradingService
from tradingbot.chain.errors import ChainError, JupiterError
from tradingbot.db import db_call
from tradingbot.display import sol
from wallets.models import UserSettings

logger = logging.getLogger(__name__)
CREATE_LOGS = ("Program log: Instruction: Create", "Program log: Instruction: CreateV2")
DATA_PREFIX = "Program data: "


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


Notify = Callable[[SnipeOutcome], Awaitable[None]]


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
        offset, texts = 8, []
        for _ in range(3):
            length = int.from_bytes(data[offset:offset + 4], "little")
            texts.append(data[offset + 4:offset + 4 + length].decode("utf-8", errors="replace"))
            offset += 4 + length
        mint = Pubkey.from_bytes(data[offset:offset + 32])
    except (ValueError, IndexError):
        return None
    return Launch(mint=str(mint), name=texts[0][:64], symbol=texts[1][:16], signature=signature)


class Sniper:
    def __init__(self, engine: TradingService, *, notify: Notify | None = None) -> None:
        self.engine = engine
        self.notify = notify

    async def on_logs(self, logs: list[str], signature: str) -> list[SnipeOutcome]:
        launch = parse_launch(logs, signature)
        if launch is None:
            return []
        return await self.handle(launch)

    async def handle(self, launch: Launch) -> list[SnipeOutcome]:
        users = await _snipers()
        if not users:
            return []
        token_problem = await self._screen(launch.mint)
        outcomes = []
        for telegram_user_id, lamports in users:
            outcome = await self._snipe_for(telegram_user_id, lamports, launch, token_problem)
            if outcome is not None:
                outcomes.append(outcome)
                if self.notify is not None:
                    await self.notify(outcome)
        return outcomes

    async def _screen(self, mint: str) -> str:
        """Why the token must not be bought, or '' when it passes: authorities and liquidity."""
        try:
            info = await self.engine.rpc.mint_info(mint)
            if info is None:
                return "not a token mint"
            if info.mint_authority is not None:
                return "mint authority is not revoked (more tokens can be printed)"
            screening = screen_mint(info, max_transfer_fee_bps=self.engine.config.custody.max_transfer_fee_bps)
            if not screening.ok:
                return "; ".join(screening.refusals)
            liquidity = await self.engine.jupiter.liquidity_sol(mint)
        except (ChainError, JupiterError) as err:
            return f"could not check the token ({err})"
        minimum = self.engine.config.snipe_min_liquidity_sol
        if liquidity is None or liquidity < minimum:
            shown = "unknown" if liquidity is None else f"{liquidity.quantize(Decimal('0.01'))} SOL"
            return f"liquidity {shown} is below the {minimum} SOL minimum"
        return ""

    async def _snipe_for(self, telegram_user_id: int, lamports: int, launch: Launch,
                         token_problem: str) -> SnipeOutcome | None:
        if token_problem:
            return await _record(telegram_user_id, launch, Snipe.Status.SKIPPED, token_problem, lamports)
        if await db_call(active_switch)(Switch.SNIPING, telegram_user_id) is not None:
            return await _record(telegram_user_id, launch, Snipe.Status.SKIPPED, "sniping is paused by the operators",
                                 lamports)
        if not await _claim(telegram_user_id, launch, lamports):
            return None  # this launch was already handled for this user (a duplicate notification)
        try:
            result = await self.engine.execute_buy(telegram_user_id=telegram_user_id, mint=launch.mint,
                                                   lamports=lamports, automatic=True)
        except TradingError as err:
            return await _finish(telegram_user_id, launch, Snipe.Status.SKIPPED, err.user_message, lamports)
        return await _finish(telegram_user_id, launch, Snipe.Status.BOUGHT, f"bought for {sol(lamports)}", lamports,
                             result.signature)


@db_call
def _snipers() -> list[tuple[int, int]]:
    return list(UserSettings.objects.filter(snipe_enabled=True, user__is_frozen=False, snipe_amount_lamports__gt=0)
                .values_list("user__telegram_user_id", "snipe_amount_lamports"))


@db_call
def _claim(telegram_user_id: int, launch: Launch, lamports: int) -> bool:
    """Write the snipe row first (status failed until the buy ends), so a launch is bought at most once."""
    from wallets.models import UserWallet

    try:
        Snipe.objects.create(user=UserWallet.objects.get(telegram_user_id=telegram_user_id), token_mint=launch.mint,
                             launch_signature=launch.signature, status=Snipe.Status.FAILED,
                             reason="buy in progress", lamports=lamports, detected_at=timezone.now())
    except IntegrityError:
        return False
    return True


@db_call
def _finish(telegram_user_id: int, launch: Launch, status: str, reason: str, lamports: int,
            trade_signature: str = "") -> SnipeOutcome:
    Snipe.objects.filter(user__telegram_user_id=telegram_user_id, token_mint=launch.mint).update(
        status=status, reason=reason[:500], trade_signature=trade_signature)
    return SnipeOutcome(telegram_user_id, launch.mint, status, reason, lamports, trade_signature)


@db_call
def _record(telegram_user_id: int, launch: Launch, status: str, reason: str, lamports: int) -> SnipeOutcome | None:
    from wallets.models import UserWallet

    try:
        Snipe.objects.create(user=UserWallet.objects.get(telegram_user_id=telegram_user_id), token_mint=launch.mint,
                             launch_signature=launch.signature, status=status, reason=reason[:500],
                             lamports=lamports, detected_at=timezone.now())
    except IntegrityError:
        return None
    return SnipeOutcome(telegram_user_id, launch.mint, status, reason, lamports)
