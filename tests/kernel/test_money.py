from decimal import Decimal

import pytest

from kernel.money import (
    U64_MAX,
    AmountError,
    lamports_to_sol,
    parse_decimal,
    percent_of,
    raw_to_tokens,
    sol_to_lamports,
    tokens_to_raw,
)


@pytest.mark.parametrize("text", ["abc", "NaN", "nan", "inf", "-inf", "Infinity", "1e309", "1E3", "50%%", "1,000",
                                  "٣", "１", "0x10", "1.2.3", ".", "", "   ", "1 000", "+-1", "1" * 41])
def test_rejects_what_is_not_a_plain_number(text):
    with pytest.raises(AmountError):
        parse_decimal(text)


@pytest.mark.parametrize(("text", "value"), [("1", Decimal(1)), ("0.5", Decimal("0.5")), (" 2.25 ", Decimal("2.25")),
                                             (".5", Decimal("0.5")), ("+3", Decimal(3))])
def test_accepts_plain_numbers(text, value):
    assert parse_decimal(text) == value


def test_zero_and_negative_only_when_allowed():
    with pytest.raises(AmountError, match="more than zero"):
        parse_decimal("0")
    with pytest.raises(AmountError, match="negative"):
        parse_decimal("-1")
    assert parse_decimal("0", allow_zero=True) == 0
    assert parse_decimal("-1", allow_negative=True) == -1
    assert parse_decimal("-10000000000000000000000000001", allow_negative=True) == Decimal(
        "-10000000000000000000000000001")  # all 29 digits, not rounded to Decimal's default 28


def test_sol_conversion_is_exact_and_refuses_sub_lamport_precision():
    assert sol_to_lamports(Decimal("1.000000001")) == 1_000_000_001
    assert lamports_to_sol(1) == Decimal("0.000000001")
    with pytest.raises(AmountError, match="9 decimal places"):
        sol_to_lamports(Decimal("0.0000000001"))


def test_u64_token_amounts_round_trip_at_every_scale():
    for decimals in (0, 6, 9):
        assert tokens_to_raw(raw_to_tokens(U64_MAX, decimals), decimals) == U64_MAX
    with pytest.raises(AmountError, match="larger than any token supply"):
        tokens_to_raw(Decimal(U64_MAX) + 1, 0)


def test_percent_rounds_down():
    assert percent_of(3, Decimal(50)) == 1
    assert percent_of(U64_MAX, Decimal(100)) == U64_MAX
