"""The ledger's arithmetic and locking, driven through the real services on the real database."""

import itertools
import threading
from decimal import Decimal

import pytest
from django.db import connections

from custody.services import get_or_create_user_wallet
from kernel.chain.effects import TransactionEffects
from kernel.money import U64_MAX
from positions import services
from positions.amounts import SellAmount
from positions.errors import InvalidAmount, NoOpenPosition, SellAmountTooLarge, SellAmountTooSmall
from positions.models import Position, Trade
from telegrambot.texts import refusal

MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
FEE = 10_000
_signatures = itertools.count()


def _sig() -> str:
    return f"sig{next(_signatures)}"


@pytest.fixture
def wallet(db):
    return get_or_create_user_wallet(6001, "ledger").wallet


def buy(wallet, *, lamports: int, received: int, mint: str = MINT, decimals: int = 6) -> Trade:
    pending = services.record_pending_buy(wallet=wallet, mint=mint, decimals=decimals, lamports_in=lamports,
                                          quoted_out=received, min_out=received, signature=_sig(),
                                          last_valid_block_height=100)
    return services.confirm_trade(trade_id=pending.trade_id, effects=TransactionEffects(
        fee_lamports=FEE, sol_change_lamports=-(lamports + FEE), token_change_raw=received, error=""))


def sell(wallet, *, raw: int, received: int, mint: str = MINT) -> Trade:
    pending = services.record_pending_sell(wallet=wallet, mint=mint, raw=raw, quoted_out=received, min_out=received,
                                           signature=_sig(), last_valid_block_height=100)
    return services.confirm_trade(trade_id=pending.trade_id, effects=TransactionEffects(
        fee_lamports=FEE, sol_change_lamports=received - FEE, token_change_raw=-raw, error=""))


def test_buy_opens_a_position_at_its_full_cost(wallet):
    trade = buy(wallet, lamports=1_000_000_000, received=1_000)
    position = Position.objects.get()
    assert trade.status == "confirmed" and trade.position_id == position.pk
    assert position.remaining_amount_raw == position.entry_amount_raw == 1_000
    assert position.remaining_cost_lamports == position.entry_cost_lamports == 1_000_000_000 + FEE


def test_second_buy_averages_into_the_same_position(wallet):
    buy(wallet, lamports=1_000_000_000, received=1_000)
    buy(wallet, lamports=500_000_000, received=250)
    position = Position.objects.get()
    assert position.remaining_amount_raw == 1_250
    assert position.remaining_cost_lamports == 1_500_000_000 + 2 * FEE


def test_selling_half_keeps_the_position_open_and_realizes_pnl(wallet):
    buy(wallet, lamports=1_000_000_000, received=1_000)
    trade = sell(wallet, raw=500, received=600_000_000)
    position = Position.objects.get()
    assert position.is_open and position.remaining_amount_raw == 500
    half_cost = (1_000_000_000 + FEE) // 2
    assert position.remaining_cost_lamports == 1_000_000_000 + FEE - half_cost
    assert trade.cost_basis_lamports == half_cost
    assert trade.realized_pnl_lamports == 600_000_000 - FEE - half_cost
    assert position.realized_pnl_lamports == trade.realized_pnl_lamports
    assert position.reserved_raw == 0


def test_partial_sells_accumulate_and_selling_the_rest_closes(wallet):
    buy(wallet, lamports=900_000_000, received=999)
    first = sell(wallet, raw=333, received=200_000_000)
    second = sell(wallet, raw=333, received=300_000_000)
    last = sell(wallet, raw=333, received=400_000_000)
    position = Position.objects.get()
    assert not position.is_open and position.closed_at is not None
    assert position.remaining_amount_raw == 0 and position.remaining_cost_lamports == 0
    assert position.realized_amount_lamports == 900_000_000
    assert sum(t.cost_basis_lamports for t in (first, second, last)) == 900_000_000 + FEE
    assert position.realized_pnl_lamports == 900_000_000 - 3 * FEE - (900_000_000 + FEE)


def test_u64_position_sells_in_full(wallet):
    buy(wallet, lamports=1_000_000_000, received=U64_MAX, decimals=0)
    sell(wallet, raw=U64_MAX // 2, received=1)
    sell(wallet, raw=U64_MAX - U64_MAX // 2, received=1)
    assert not Position.objects.get().is_open


def test_applying_a_confirmation_twice_changes_nothing(wallet):
    buy(wallet, lamports=1_000_000_000, received=1_000)
    pending = services.record_pending_sell(wallet=wallet, mint=MINT, raw=400, quoted_out=1, min_out=1,
                                           signature="twice", last_valid_block_height=100)
    effects = TransactionEffects(fee_lamports=FEE, sol_change_lamports=100, token_change_raw=-400, error="")
    services.confirm_trade(trade_id=pending.trade_id, effects=effects)
    before = Position.objects.values().get()
    services.confirm_trade(trade_id=pending.trade_id, effects=effects)
    services.fail_trade(trade_id=pending.trade_id, error="late")
    assert Position.objects.values().get() == before
    assert Trade.objects.get(signature="twice").status == "confirmed"


def test_a_failed_sell_releases_its_reservation_and_moves_nothing(wallet):
    buy(wallet, lamports=1_000_000_000, received=1_000)
    pending = services.record_pending_sell(wallet=wallet, mint=MINT, raw=1_000, quoted_out=1, min_out=1,
                                           signature="fails", last_valid_block_height=100)
    assert Position.objects.get().reserved_raw == 1_000
    services.fail_trade(trade_id=pending.trade_id, error="slippage")
    position = Position.objects.get()
    assert position.reserved_raw == 0 and position.remaining_amount_raw == 1_000 and position.is_open


def test_a_reservation_blocks_overselling(wallet):
    buy(wallet, lamports=1_000_000_000, received=1_000)
    services.record_pending_sell(wallet=wallet, mint=MINT, raw=700, quoted_out=1, min_out=1, signature="a",
                                 last_valid_block_height=100)
    with pytest.raises(SellAmountTooLarge) as caught:
        services.record_pending_sell(wallet=wallet, mint=MINT, raw=301, quoted_out=1, min_out=1, signature="b",
                                     last_valid_block_height=100)
    assert "0.0003" in refusal(caught.value) and "being sold right now" in refusal(caught.value)
    assert not Trade.objects.filter(signature="b").exists()
    assert Position.objects.get().reserved_raw == 700


def test_selling_without_a_position_is_refused(wallet):
    with pytest.raises(NoOpenPosition):
        services.record_pending_sell(wallet=wallet, mint=MINT, raw=1, quoted_out=1, min_out=1, signature="x",
                                     last_valid_block_height=1)
    assert not Trade.objects.exists()


@pytest.mark.parametrize(("text", "raw"), [("all", 1_000), ("50%", 500), ("33.3%", 333), ("0.0005", 500),
                                           ("100%", 1_000), ("MAX", 1_000)])
def test_sell_amounts_become_raw_units(text, raw):
    assert SellAmount.parse(text).to_raw(remaining_raw=1_000, decimals=6) == raw


@pytest.mark.parametrize(("text", "message"), [("0", "more than zero"), ("-1", "negative"), ("abc", "plain number"),
                                               ("150%", "at most 100%"), ("50%%", "plain number"),
                                               ("1e3", "plain number"), ("NaN", "plain number"), ("", "empty"),
                                               ("0.001%", "smallest percentage")])
def test_bad_sell_amounts_say_what_to_type(text, message):
    with pytest.raises(InvalidAmount) as caught:
        SellAmount.parse(text)
    assert message in refusal(caught.value)
    assert "like" in refusal(caught.value) or "'all'" in refusal(caught.value)


def test_amounts_below_one_raw_unit_are_refused():
    with pytest.raises(SellAmountTooSmall):
        SellAmount.percent(Decimal("0.01")).to_raw(remaining_raw=10, decimals=0)
    with pytest.raises(InvalidAmount, match="decimal places"):
        SellAmount.tokens(Decimal("0.5")).to_raw(remaining_raw=10, decimals=0)


def _in_threads(count: int, work) -> list:
    results = []
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            results.append(work(index))
        except Exception as err:  # collected and asserted on
            results.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_sells_never_oversell(postgres_only):
    wallet = get_or_create_user_wallet(6002, "racer").wallet
    buy(wallet, lamports=1_000_000_000, received=1_000)
    results = _in_threads(50, lambda i: services.record_pending_sell(
        wallet=wallet, mint=MINT, raw=30, quoted_out=1, min_out=1, signature=f"race{i}", last_valid_block_height=9))
    accepted = [r for r in results if isinstance(r, services.PendingTrade)]
    refused = [r for r in results if isinstance(r, SellAmountTooLarge)]
    assert len(accepted) == 33 and len(refused) == 17
    assert Position.objects.get().reserved_raw == 990
    for pending in accepted:
        services.confirm_trade(trade_id=pending.trade_id, effects=TransactionEffects(
            fee_lamports=FEE, sol_change_lamports=1, token_change_raw=-30, error=""))
    position = Position.objects.get()
    assert position.remaining_amount_raw == 10 and position.reserved_raw == 0


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_buys_of_one_mint_end_in_one_position(postgres_only):
    wallet = get_or_create_user_wallet(6003, "buyer").wallet
    results = _in_threads(50, lambda i: buy(wallet, lamports=1_000_000 + i, received=10 + i))
    assert all(isinstance(r, Trade) for r in results), [r for r in results if not isinstance(r, Trade)][:3]
    position = Position.objects.get()
    assert position.remaining_amount_raw == sum(10 + i for i in range(50))
    assert position.remaining_cost_lamports == sum(1_000_000 + i + FEE for i in range(50))


def test_all_of_nothing_is_refused_rather_than_zero():
    with pytest.raises(SellAmountTooSmall):
        SellAmount.all().to_raw(remaining_raw=0, decimals=6)
