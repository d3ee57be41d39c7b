"""How amounts read to people, in one place: used by the bot's texts and refusals, and by the few domain strings
not moved there yet (withdrawals, snipe reasons, the dashboard)."""

from __future__ import annotations

from decimal import Decimal

from kernel.money import lamports_to_sol, raw_to_tokens


def plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: 1.500 -> '1.5', 2E+1 -> '20'."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def sol(lamports: int) -> str:
    return f"{plain(lamports_to_sol(lamports))} SOL"


def tokens(raw: int, decimals: int) -> str:
    return plain(raw_to_tokens(raw, decimals))
