"""Staff read and type SOL and percent, as traders do in Telegram; the columns stay integers underneath (lamports,
basis points). Typed values are read by the same strict reader as the bot's (kernel.money.parse_decimal: no
exponents, no thousands separators, no more than 9 decimals of SOL), and then held to wallets/limits.py."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
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


def sol_column(field: str, description: str):
    """A list or read-only column showing a lamports field in SOL (``description`` names the unit)."""
    @admin.display(description=description, ordering=field)
    def column(self, obj) -> str:
        return in_sol(getattr(obj, field))
    column.__name__ = f"{field}_in_sol"
    return column


def percent_column(field: str, description: str, *, bps: bool = False):
    """A list or read-only column showing a percentage (or basis points, ``bps``) as percent; empty reads "off"."""
    @admin.display(description=description, ordering=field)
    def column(self, obj) -> str:
        value = getattr(obj, field)
        if value is None:
            return "off"
        return in_percent(value) if bps else plain(value)
    column.__name__ = f"{field}_in_percent"
    return column


class Shown:
    """A row for a CSV export: a column the admin displays (in SOL, in percent) by that display, any other by the
    model's field. Exports still name their columns one by one (kernel.exports)."""

    def __init__(self, model_admin: admin.ModelAdmin, obj) -> None:
        self._admin, self._obj = model_admin, obj

    def __getattr__(self, name: str):
        column = getattr(self._admin, name, None)
        if callable(column) and hasattr(column, "short_description"):
            return column(self._obj)
        return getattr(self._obj, name)
