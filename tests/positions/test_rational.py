"""Exact prices: lamports per raw unit as integer pairs, compared by cross-multiplication."""

from decimal import Decimal
from fractions import Fraction

import pytest

from kernel.money import U64_MAX
from positions import rational


def test_a_price_in_sol_per_token_becomes_lamports_per_raw_unit_exactly():
    assert Fraction(*rational.per_raw_unit(Decimal("0.0005"), 6)) == Fraction(1, 2)
    assert Fraction(*rational.per_raw_unit(Decimal("2.5"), 0)) == 2_500_000_000
    assert Fraction(*rational.per_raw_unit(Decimal("0.000000000000000001"), 9)) == Fraction(1, 10**18)


def test_comparisons_are_exact_where_floats_are_not():
    a = rational.per_raw_unit(Decimal("0.1"), 0)
    b = (10**8 * 3 + 1, 3)  # a hair above 0.1 SOL
    assert rational.at_most(a, b) and not rational.at_least(a, b) and rational.above(b, a)
    assert rational.at_least(a, a) and rational.at_most(a, a) and not rational.above(a, a)


def test_a_multiple_and_a_share_scale_exactly():
    entry = (1_000_000, 3)  # a third of a million lamports per raw unit
    assert Fraction(*rational.scaled(entry, Decimal("2.5"))) == Fraction(2_500_000, 3)
    assert Fraction(*rational.scaled(entry, (100 - Decimal("15")) / 100)) == Fraction(850_000, 3)


@pytest.mark.parametrize("price", [Fraction(1, 3), Fraction(10**30 + 1, 10**29), Fraction(7, 10**15),
                                   Fraction(U64_MAX, 1), Fraction(2**70 + 1, 2**69)])
def test_a_stored_price_fits_two_u64_columns_and_stays_close(price):
    stored = rational.fit_u64((price.numerator, price.denominator))
    assert stored is not None and 0 < stored[0] <= U64_MAX and 0 < stored[1] <= U64_MAX
    assert abs(Fraction(*stored) - price) <= price / 10**12


def test_a_price_beyond_any_token_is_refused():
    assert rational.fit_u64((2**70, 1)) is None
    assert rational.fit_u64((0, 1)) is None
    assert rational.fit_u64((1, 10**25)) is None  # and one below any: less than 1/2**64 lamport per raw unit


def test_display_turns_it_back_into_sol_per_token():
    assert rational.to_sol_per_token(rational.per_raw_unit(Decimal("0.0004"), 6), 6) == Fraction(4, 10_000)
