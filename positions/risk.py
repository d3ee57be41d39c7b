"""Pre-trade checks. Limits round against the trader: the stricter of the user's and the operator's wins."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.db.models import Sum

from custody import audit
from kernel.config import TradingConfig
from positions.errors import DailyLossLimitReached, DailySpendCapReached, TradeTooLarge, TradingError, TradingFrozen
from positions.models import Trade
from wallets.models import UserSettings, UserWallet

SPEND_WINDOW = timedelta(hours=24)


def max_trade_lamports(settings: UserSettings, config: TradingConfig) -> int:
    return min(settings.max_trade_size_lamports, config.trading.max_trade_size_lamports)


def slippage_bps(settings: UserSettings, config: TradingConfig) -> int:
    """The slippage a trade uses: a stored value above the operator's maximum (set before the maximum existed, or
    by staff) is clamped to it."""
    return min(settings.slippage_bps, config.trading.max_slippage_bps)


def daily_loss_limit_lamports(settings: UserSettings, config: TradingConfig) -> int:
    """The user's limit capped by the operator's; a user limit of 0 means 'only the operator's limit'."""
    global_limit = config.trading.max_daily_loss_lamports
    user_limit = settings.daily_loss_limit_lamports
    return min(user_limit, global_limit) if user_limit > 0 else global_limit


def daily_spend_cap_lamports(settings: UserSettings, config: TradingConfig) -> int:
    """The user's cap on SOL spent by buys in 24 hours, never above the operator's; empty = the operator's."""
    global_cap = config.trading.max_daily_spend_lamports
    user_cap = settings.daily_spend_limit_lamports
    return global_cap if user_cap is None else min(user_cap, global_cap)


def day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def realized_loss_today(wallet: UserWallet, now: datetime, *, paper: bool = False) -> int:
    """Lamports lost on sells confirmed since 00:00 UTC (losing sells only: gains do not buy back the limit)."""
    total = (Trade.objects.filter(user=wallet, side=Trade.Side.SELL, status=Trade.Status.CONFIRMED, paper=paper,
                                  resolved_at__gte=day_start(now), realized_pnl_lamports__lt=0)
             .aggregate(total=Sum("realized_pnl_lamports"))["total"])
    return -(total or 0)


def spent_last_24_hours(wallet: UserWallet, now: datetime, *, paper: bool = False) -> int:
    """Lamports put into buys over the last 24 hours, confirmed or still pending (a pending buy may yet land);
    failed buys spent nothing. A rolling window, so a cap cannot be spent twice across midnight."""
    total = (Trade.objects.filter(user=wallet, side=Trade.Side.BUY, created_at__gte=now - SPEND_WINDOW, paper=paper,
                                  status__in=[Trade.Status.PENDING, Trade.Status.CONFIRMED])
             .aggregate(total=Sum("lamports_in"))["total"])
    return total or 0


def check_buy(*, wallet: UserWallet, settings: UserSettings, lamports: int, config: TradingConfig,
              now: datetime, paper: bool = False) -> None:
    """Raise the first rule a buy breaks; the balance is checked later, against the chain (or the paper book).
    A paper book has the same limits as the real one, counted over its own trades."""
    if wallet.is_frozen:
        raise TradingFrozen()
    limit = max_trade_lamports(settings, config)
    if lamports > limit:
        raise _refused(wallet, TradeTooLarge(lamports, limit), "max trade size", lamports=lamports, limit=limit)
    try:
        check_daily_spend(wallet=wallet, lamports=lamports, cap=daily_spend_cap_lamports(settings, config), now=now,
                          paper=paper)
    except DailySpendCapReached as refused:
        raise record_spend_refusal(wallet, refused) from None
    loss_limit = daily_loss_limit_lamports(settings, config)
    lost = realized_loss_today(wallet, now, paper=paper)
    if lost >= loss_limit:
        raise DailyLossLimitReached(lost, loss_limit, day_start(now) + timedelta(days=1))


def check_daily_spend(*, wallet: UserWallet, lamports: int, cap: int, now: datetime, paper: bool = False) -> None:
    """Raise DailySpendCapReached (not audited: inside a transaction the audit row would roll back with it)."""
    spent = spent_last_24_hours(wallet, now, paper=paper)
    if spent + lamports > cap:
        raise DailySpendCapReached(lamports=lamports, cap=cap, spent=spent)


def record_spend_refusal(wallet: UserWallet, refused: DailySpendCapReached) -> DailySpendCapReached:
    return _refused(wallet, refused, "daily spend cap", lamports=refused.lamports, limit=refused.cap,
                    spent=refused.spent)


def check_sell(*, wallet: UserWallet) -> None:
    if wallet.is_frozen:
        raise TradingFrozen()


def _refused(wallet: UserWallet, error: TradingError, rule: str, **detail) -> TradingError:
    """A buy stopped by a money limit is a security event too (it is what a hijacked chat runs into)."""
    audit.record(audit.Action.BUY_REFUSED, actor=audit.trader(wallet.telegram_user_id, wallet.telegram_username),
                 source=audit.BOT, user=wallet, rule=rule, **detail)
    return error
