"""Pre-trade checks. Limits round against the trader: the stricter of the user's and the operator's wins."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.db.models import Sum

from positions.errors import DailyLossLimitReached, TradeTooLarge, TradingFrozen
from positions.models import Trade
from tradingbot.config import TradingConfig
from wallets.models import UserSettings, UserWallet


def max_trade_lamports(settings: UserSettings, config: TradingConfig) -> int:
    return min(settings.max_trade_size_lamports, config.trading.max_trade_size_lamports)


def daily_loss_limit_lamports(settings: UserSettings, config: TradingConfig) -> int:
    """The user's limit capped by the operator's; a user limit of 0 means 'only the operator's limit'."""
    global_limit = config.trading.max_daily_loss_lamports
    user_limit = settings.daily_loss_limit_lamports
    return min(user_limit, global_limit) if user_limit > 0 else global_limit


def day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def realized_loss_today(wallet: UserWallet, now: datetime) -> int:
    """Lamports lost on sells confirmed since 00:00 UTC (losing sells only: gains do not buy back the limit)."""
    total = (Trade.objects.filter(user=wallet, side=Trade.Side.SELL, status=Trade.Status.CONFIRMED,
                                  resolved_at__gte=day_start(now), realized_pnl_lamports__lt=0)
             .aggregate(total=Sum("realized_pnl_lamports"))["total"])
    return -(total or 0)


def check_buy(*, wallet: UserWallet, settings: UserSettings, lamports: int, config: TradingConfig,
              now: datetime) -> None:
    """Raise the first rule a buy breaks; the balance is checked later, against the chain."""
    if wallet.is_frozen:
        raise TradingFrozen()
    limit = max_trade_lamports(settings, config)
    if lamports > limit:
        raise TradeTooLarge(lamports, limit)
    loss_limit = daily_loss_limit_lamports(settings, config)
    lost = realized_loss_today(wallet, now)
    if lost >= loss_limit:
        raise DailyLossLimitReached(lost, loss_limit, day_start(now) + timedelta(days=1))


def check_sell(*, wallet: UserWallet) -> None:
    if wallet.is_frozen:
        raise TradingFrozen()
