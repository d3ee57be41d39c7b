import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from custody.services import get_or_create_user_wallet
from kernel.money import U64_MAX
from positions.models import Position, Trade

pytestmark = pytest.mark.django_db
MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


@pytest.fixture
def wallet():
    return get_or_create_user_wallet(2001, "trader").wallet


def _position(wallet, **fields):
    values = {"user": wallet, "token_mint": MINT, "token_decimals": 5, **fields}
    return Position.objects.create(**values)


@pytest.mark.parametrize("raw", [0, 1, 9, 10, 2**63 - 1, 2**63, U64_MAX])
def test_u64_amounts_round_trip_exactly(wallet, raw):
    position = _position(wallet, entry_amount_raw=raw, remaining_amount_raw=raw, reserved_raw=raw)
    fresh = Position.objects.get(pk=position.pk)
    assert fresh.entry_amount_raw == raw and type(fresh.entry_amount_raw) is int
    assert fresh.remaining_amount_raw == raw and fresh.reserved_raw == raw
    assert Position.objects.filter(remaining_amount_raw=raw).count() == 1


def test_u64_comparisons_are_numeric_not_textual(wallet):
    for index, raw in enumerate([9, 10, 100, U64_MAX]):
        _position(wallet, token_mint=f"mint{index}", entry_amount_raw=raw, remaining_amount_raw=raw)
    assert sorted(Position.objects.filter(remaining_amount_raw__gt=9).values_list("remaining_amount_raw",
                                                                                   flat=True)) == [10, 100, U64_MAX]
    assert list(Position.objects.order_by("remaining_amount_raw").values_list("remaining_amount_raw",
                                                                               flat=True)) == [9, 10, 100, U64_MAX]


@pytest.mark.parametrize("raw", [-1, U64_MAX + 1, True])
def test_values_outside_u64_never_reach_the_database(wallet, raw):
    with pytest.raises(ValueError, match="not an unsigned 64-bit integer"):
        _position(wallet, entry_amount_raw=raw)


def test_u64_range_is_enforced_by_the_database_too(wallet):
    position = _position(wallet, entry_amount_raw=5, remaining_amount_raw=5)
    too_big = "99999999999999999999"
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE positions SET entry_amount_raw = %s WHERE id = %s", [too_big, position.pk])


def test_one_open_position_per_user_and_mint(wallet):
    _position(wallet)
    with pytest.raises(IntegrityError), transaction.atomic():
        _position(wallet)
    closed = Position.objects.get()
    closed.is_open, closed.closed_at = False, timezone.now()
    closed.save()
    _position(wallet)  # a new open position once the old one is closed


@pytest.mark.parametrize(("field", "value"), [("entry_cost_lamports", -1), ("remaining_cost_lamports", -1),
                                              ("realized_amount_lamports", -5)])
def test_negative_lamport_amounts_are_refused(wallet, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        _position(wallet, **{field: value})


def test_reserved_cannot_exceed_remaining(wallet):
    with pytest.raises(IntegrityError), transaction.atomic():
        _position(wallet, entry_amount_raw=10, remaining_amount_raw=10, reserved_raw=11)


def test_trade_signature_is_unique(wallet):
    values = {"user": wallet, "token_mint": MINT, "token_decimals": 5, "side": "buy", "signature": "sig1",
              "last_valid_block_height": 10}
    Trade.objects.create(**values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Trade.objects.create(**values)


def test_trade_amounts_hold_u64_max(wallet):
    trade = Trade.objects.create(user=wallet, token_mint=MINT, token_decimals=0, side="sell", signature="s",
                                 amount_in_raw=U64_MAX, last_valid_block_height=1)
    assert Trade.objects.get(pk=trade.pk).amount_in_raw == U64_MAX
