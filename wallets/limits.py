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
    source: str  # where the maximum comes from
    unit: str = "percent"  # how the field reads to people: "sol" (lamports), "bps" (basis points) or "percent"

    def show(self, value: int | Decimal) -> str:
        """A value of this field as staff type it: SOL, or percent."""
        if self.unit == "sol":
            return sol(int(value))
        return f"{plain(Decimal(value) / 100 if self.unit == 'bps' else Decimal(value))}%"


def settings_ceilings(config: TradingConfig) -> list[Ceiling]:
    trade_max = config.trading.max_trade_size_lamports
    return [
        Ceiling("max_trade_size_lamports", trade_max, "the operator's MAX_POSITION_SIZE_SOL", "sol"),
        Ceiling("daily_loss_limit_lamports", config.trading.max_daily_loss_lamports,
                "the operator's MAX_DAILY_LOSS_SOL", "sol"),
        Ceiling("snipe_amount_lamports", trade_max, "a snipe is a buy, capped by MAX_POSITION_SIZE_SOL", "sol"),
        Ceiling("slippage_bps", MAX_SLIPPAGE_BPS, "the bot's limit", "bps"),
        Ceiling("priority_fee_lamports", MAX_PRIORITY_FEE_LAMPORTS, "the bot's limit", "sol"),
        Ceiling("stop_loss_percentage", MAX_STOP_LOSS_PERCENTAGE, "the bot's limit"),
        Ceiling("take_profit_percentage", MAX_TAKE_PROFIT_PERCENTAGE, "the bot's limit"),
    ]


def over_ceiling(values: dict, config: TradingConfig) -> dict[str, str]:
    """{field: message} for every value above its maximum; empty when all are within."""
    problems = {}
    for ceiling in settings_ceilings(config):
        value = values.get(ceiling.field)
        if value is not None and value > ceiling.maximum:
            problems[ceiling.field] = (f"{ceiling.show(value)} is above the maximum of {ceiling.show(ceiling.maximum)} "
                                       f"({ceiling.source}). Type at most {ceiling.show(ceiling.maximum)}.")
    return problems
