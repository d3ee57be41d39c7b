"""The most any trader's settings may be, whoever sets them: the operator's maxima (kernel/config.py) for
money, and the bot's own bounds (what /set accepts) for slippage, fees and the exit rules. The admin checks a
superuser's edit against these, so not even staff can give one user more room than the operator allows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kernel.config import TradingConfig
from kernel.display import plain, sol

# What /set accepts from a trader (telegrambot/parsing.py and handlers/settings.py).
MAX_SLIPPAGE_BPS = 5_000
MAX_PRIORITY_FEE_LAMPORTS = 10_000_000
MAX_STOP_LOSS_PERCENTAGE = Decimal(99)
MAX_TAKE_PROFIT_PERCENTAGE = Decimal(10_000)


@dataclass(frozen=True)
class Ceiling:
    field: str
    maximum: int | Decimal
    shown: str  # the maximum as people read it, and where it comes from


def settings_ceilings(config: TradingConfig) -> list[Ceiling]:
    trade_max = config.trading.max_trade_size_lamports
    return [
        Ceiling("max_trade_size_lamports", trade_max,
                f"{sol(trade_max)} ({trade_max} lamports, the operator's MAX_POSITION_SIZE_SOL)"),
        Ceiling("daily_loss_limit_lamports", config.trading.max_daily_loss_lamports,
                f"{sol(config.trading.max_daily_loss_lamports)} ({config.trading.max_daily_loss_lamports} lamports, "
                "the operator's MAX_DAILY_LOSS_SOL)"),
        Ceiling("snipe_amount_lamports", trade_max,
                f"{sol(trade_max)} ({trade_max} lamports: a snipe is a buy, capped by MAX_POSITION_SIZE_SOL)"),
        Ceiling("slippage_bps", MAX_SLIPPAGE_BPS, f"{MAX_SLIPPAGE_BPS} bps (50%, the bot's limit)"),
        Ceiling("priority_fee_lamports", MAX_PRIORITY_FEE_LAMPORTS,
                f"{MAX_PRIORITY_FEE_LAMPORTS} lamports ({sol(MAX_PRIORITY_FEE_LAMPORTS)}, the bot's limit)"),
        Ceiling("stop_loss_percentage", MAX_STOP_LOSS_PERCENTAGE, f"{plain(MAX_STOP_LOSS_PERCENTAGE)}%"),
        Ceiling("take_profit_percentage", MAX_TAKE_PROFIT_PERCENTAGE, f"{plain(MAX_TAKE_PROFIT_PERCENTAGE)}%"),
    ]


def over_ceiling(values: dict, config: TradingConfig) -> dict[str, str]:
    """{field: message} for every value above its maximum; empty when all are within."""
    problems = {}
    for ceiling in settings_ceilings(config):
        value = values.get(ceiling.field)
        if value is not None and value > ceiling.maximum:
            problems[ceiling.field] = (f"{value} is above the maximum of {ceiling.shown}. Type at most "
                                       f"{ceiling.maximum}.")
    return problems
