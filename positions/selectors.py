"""Reads: positions with their value, priced in batches (one price request per batch of mints)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db.models import Sum

from kernel.chain.errors import JupiterError
from kernel.chain.jupiter import JupiterClient
from kernel.db import db_call
from kernel.money import LAMPORTS_PER_SOL, raw_to_tokens
from positions.models import Position, Snipe, SnipeLaunch, Trade, own_or_default
from wallets.errors import WalletNotFound
from wallets.models import UserSettings, UserWallet


@dataclass(frozen=True)
class PositionView:
    position_id: int
    mint: str
    decimals: int
    remaining_raw: int
    remaining_cost_lamports: int
    realized_pnl_lamports: int
    price_sol: Decimal | None  # per whole token; None when no price is known
    value_lamports: int | None
    opened_at: object
    stop_loss: Decimal | None = None  # effective: the position's own, else the user's
    take_profit: Decimal | None = None

    @property
    def unrealized_pnl_lamports(self) -> int | None:
        return None if self.value_lamports is None else self.value_lamports - self.remaining_cost_lamports

    @property
    def unrealized_pnl_percent(self) -> Decimal | None:
        pnl = self.unrealized_pnl_lamports
        if pnl is None or self.remaining_cost_lamports == 0:
            return None
        return (Decimal(pnl) * 100 / self.remaining_cost_lamports).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class PortfolioView:
    positions: list[PositionView]
    realized_pnl_lamports: int  # over every position, open and closed
    prices_available: bool


async def list_positions(*, wallet: UserWallet, jupiter: JupiterClient, paper: bool = False,
                         since: datetime | None = None) -> PortfolioView:
    """The open positions of one book (the real one, or with ``paper`` the paper one), valued now; the realized
    PnL counts positions opened ``since`` (a paper book: since its last reset)."""
    positions, realized = await _open_positions_and_realized(wallet.pk, paper, since)
    prices: dict[str, Decimal] = {}
    prices_available = True
    if positions:
        try:
            prices = await jupiter.sol_prices([p.token_mint for p in positions])
        except JupiterError:
            prices_available = False
    views = [_view(position, prices.get(position.token_mint)) for position in positions]
    return PortfolioView(positions=views, realized_pnl_lamports=realized, prices_available=prices_available)


def value_lamports(raw: int, decimals: int, price_sol: Decimal) -> int:
    """Value of ``raw`` units at ``price_sol`` per whole token, rounded down to a lamport."""
    return int((raw_to_tokens(raw, decimals) * price_sol * LAMPORTS_PER_SOL).to_integral_value(rounding=ROUND_DOWN))


@db_call
def _open_positions_and_realized(wallet_id: int, paper: bool, since: datetime | None) -> tuple[list[Position], int]:
    book = Position.objects.filter(user_id=wallet_id, paper=paper)
    positions = list(book.filter(is_open=True).select_related("user__settings").order_by("opened_at"))
    counted = book if since is None else book.filter(opened_at__gte=since)
    realized = counted.aggregate(total=Sum("realized_pnl_lamports"))["total"]
    return positions, realized or 0


def _view(position: Position, price: Decimal | None) -> PositionView:
    value = None if price is None else value_lamports(position.remaining_amount_raw, position.token_decimals, price)
    return PositionView(position_id=position.pk, mint=position.token_mint, decimals=position.token_decimals,
                        remaining_raw=position.remaining_amount_raw,
                        remaining_cost_lamports=position.remaining_cost_lamports,
                        realized_pnl_lamports=position.realized_pnl_lamports, price_sol=price, value_lamports=value,
                        opened_at=position.opened_at,
                        stop_loss=own_or_default(position.stop_loss_percentage,
                                                 position.user.settings.stop_loss_percentage),
                        take_profit=own_or_default(position.take_profit_percentage,
                                                   position.user.settings.take_profit_percentage))


@db_call
def load_settings(telegram_user_id: int) -> UserSettings:
    settings = UserSettings.objects.filter(user__telegram_user_id=telegram_user_id).first()
    if settings is None:
        raise WalletNotFound()
    return settings


@dataclass(frozen=True)
class SnipeEntry:
    status: str
    token_mint: str
    reason: str
    at: object
    token_level: bool = False  # skipped for every sniper (one SnipeLaunch row), not an attempt of the user's


@dataclass(frozen=True)
class SnipeHistory:
    entries: list[SnipeEntry]
    more_skipped: int = 0  # token-level skips that concerned the user beyond those listed


@db_call
def recent_snipes(wallet_id: int, limit: int = 5, *, paper: bool = False) -> SnipeHistory:
    """The user's latest snipe decisions in one book (real, or with ``paper`` the paper one): their own attempts,
    and, while their sniping is on, the launches skipped for everyone since their settings last changed (sniping
    has been on, unchanged, at least that long)."""
    own = [SnipeEntry(s.status, s.token_mint, s.reason, s.created_at)
           for s in Snipe.objects.filter(user_id=wallet_id, paper=paper).order_by("-created_at")[:limit]]
    settings = UserSettings.objects.filter(user_id=wallet_id, snipe_enabled=True, user__is_frozen=False,
                                           snipe_amount_lamports__gt=0).only("updated_at").first()
    if settings is None:
        return SnipeHistory(own)
    concerned = SnipeLaunch.objects.filter(created_at__gte=settings.updated_at)
    skipped = [SnipeEntry(Snipe.Status.SKIPPED, launch.token_mint, launch.reason, launch.created_at, True)
               for launch in concerned.order_by("-created_at")[:limit]]
    entries = sorted(own + skipped, key=lambda entry: entry.at, reverse=True)[:limit]
    listed = sum(1 for entry in entries if entry.token_level)
    return SnipeHistory(entries, more_skipped=concerned.count() - listed if skipped else 0)


@db_call
def token_decimals(wallet_id: int) -> dict[str, int]:
    """Decimals of every mint the wallet has traded, from its ledger (no chain read)."""
    return dict(Trade.objects.filter(user_id=wallet_id).values_list("token_mint", "token_decimals").distinct())


@db_call
def paper_holding(telegram_user_id: int, mint: str) -> int:
    """Raw units of ``mint`` the trader's open paper position holds (0 without one): a paper book's "balance"."""
    held = (Position.objects.filter(user__telegram_user_id=telegram_user_id, token_mint=mint, is_open=True, paper=True)
            .values_list("remaining_amount_raw", flat=True).first())
    return held or 0


@db_call
def open_position_mint(telegram_user_id: int, position_id: int) -> tuple[str, bool] | None:
    """The mint of one of the trader's own open positions (a Sell button names the position), and whether it is a
    paper one; None otherwise."""
    return (Position.objects.filter(pk=position_id, user__telegram_user_id=telegram_user_id, is_open=True)
            .values_list("token_mint", "paper").first())
