"""Staff read and type SOL and percent, as traders do in Telegram; the columns stay integers underneath (lamports,
basis points). Typed values are read by the same strict reader as the bot's (kernel.money.parse_decimal: no
exponents, no thousands separators, no more than 9 decimals of SOL), and then held to wallets/limits.py."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from kernel.display import plain
from kernel.money import AmountError, lamports_to_sol, parse_decimal, sol_to_lamports


class SolField(forms.CharField):
    """An amount of SOL in the form, lamports (an int) in ``cleaned_data`` and the database."""

    def __init__(self, *, allow_zero: bool = False, **kwargs) -> None:
        self.allow_zero = allow_zero
        kwargs.setdefault("help_text", "In SOL, like 0.5" + (" (0 for none)." if allow_zero else "."))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return in_sol(value) if isinstance(value, int) else value

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return sol_to_lamports(parse_decimal(text.removesuffix("SOL").strip(), allow_zero=self.allow_zero))
        except AmountError as err:
            raise ValidationError(f"The amount {err.problem}. Type SOL as a plain number, like 0.5.") from None


class PercentField(forms.CharField):
    """A percentage in the form (1.5 or 1.5%), basis points (an int) in ``cleaned_data`` and the database."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("help_text", "In percent, like 1.5 (at most two decimals).")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return in_percent(value) if isinstance(value, int) else value

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            percent = parse_decimal(text.removesuffix("%").strip())
        except AmountError as err:
            raise ValidationError(f"The percentage {err.problem}. Type a number like 1.5.") from None
        bps = percent * 100
        if bps != bps.to_integral_value():
            raise ValidationError("At most two decimals (0.01% steps), like 1.25.")
        return int(bps)


def in_sol(lamports: int | None) -> str:
    return "" if lamports is None else plain(lamports_to_sol(lamports))


def in_percent(bps: int | None) -> str:
    return "" if bps is None else plain(Decimal(bps) / 100)
