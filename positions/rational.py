"""Prices as exact rationals: lamports per raw token unit, a pair of integers (numerator, denominator).

Orders store their triggers this way and compare by cross-multiplication (a/b >= c/d ⇔ a·d >= c·b, denominators
positive), so no comparison ever rounds. ``Decimal`` only comes in from what a trader typed or what the price API
said, and is turned into a pair exactly once.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from kernel.money import LAMPORTS_PER_SOL, U64_MAX

Rational = tuple[int, int]  # (numerator, denominator), denominator > 0


def per_raw_unit(sol_per_token: Decimal | Fraction, decimals: int) -> Rational:
    """SOL per whole token → lamports per raw unit, exactly: × 10**9 / 10**decimals."""
    num, den = (sol_per_token.as_integer_ratio() if isinstance(sol_per_token, Decimal)
                else (sol_per_token.numerator, sol_per_token.denominator))
    return num * LAMPORTS_PER_SOL, den * 10**decimals


def scaled(price: Rational, factor: Decimal | Fraction) -> Rational:
    """``price × factor`` (a multiple like 2.5, or a share like 0.8), exactly."""
    f = Fraction(factor)
    return price[0] * f.numerator, price[1] * f.denominator


def at_least(a: Rational, b: Rational) -> bool:
    return a[0] * b[1] >= b[0] * a[1]


def at_most(a: Rational, b: Rational) -> bool:
    return a[0] * b[1] <= b[0] * a[1]


def above(a: Rational, b: Rational) -> bool:
    return a[0] * b[1] > b[0] * a[1]


def to_sol_per_token(price: Rational, decimals: int) -> Fraction:
    """For display: SOL per whole token."""
    return Fraction(price[0] * 10**decimals, price[1] * LAMPORTS_PER_SOL)


def fit_u64(price: Rational) -> Rational | None:
    """The pair reduced so both fit a u64 column; a price needing more digits is replaced by the nearest one that
    fits (a denominator near 2**64 / the price: closer than any quote can tell apart). None for a price beyond any
    token's."""
    fraction = Fraction(*price)
    if fraction.denominator > U64_MAX or fraction.numerator > U64_MAX:
        whole = fraction.numerator // fraction.denominator + 1  # the numerator is at most whole × denominator
        if whole > U64_MAX:
            return None
        fraction = fraction.limit_denominator(U64_MAX // whole)
    if fraction <= 0 or fraction.numerator > U64_MAX:
        return None
    return fraction.numerator, fraction.denominator
