"""Composed swaps through the real stack: the bot builds its own transaction from Jupiter's /swap-instructions, and
a full exit closes the emptied token account, so its rent comes back; the ledger records rent paid and returned,
and explains every lamport."""

from __future__ import annotations

import itertools

import pytest
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from positions.models import Position, Trade
from positions.reconcile import audit_wallets, reconcile_pending
from telegrambot import texts

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
TOKEN_ACCOUNT_RENT = 2_039_280  # a classic SPL token account (165 bytes)
_names = itertools.count()


def _account(trader, mint: str, program: str) -> Pubkey:
    return get_associated_token_address(Pubkey.from_string(trader.wallet.public_key), Pubkey.from_string(mint),
                                        Pubkey.from_string(program))


async def _trades(trader) -> list[Trade]:
    return [trade async for trade in Trade.objects.filter(user=trader.wallet).order_by("pk")]


def _explained(trade: Trade) -> int:
    """The wallet's SOL change as the ledger's parts add up: swap, fee, rent."""
    if trade.side == "buy":
        return -(trade.lamports_in + trade.fee_lamports + trade.rent_paid_lamports)
    return trade.lamports_out - trade.fee_lamports + trade.rent_returned_lamports


@pytest.mark.parametrize("swap_compose", ["true", "false"])
async def test_a_round_trip_returns_the_token_accounts_rent_only_when_composed(trader, localnet, swap_compose):
    token = localnet.token("WIF")
    before = trader.sol()
    bought = await trader.buy("WIF", SOL // 10)
    sold = await trader.sell("WIF", "all")
    account = _account(trader, token.mint, token.program_id)
    spent = before - trader.sol()
    trading = bought.lamports_in + bought.fee_lamports + sold.fee_lamports - sold.lamports_out
    locked = spent - trading  # what the round trip left in the token account
    assert bought.rent_paid_lamports == TOKEN_ACCOUNT_RENT == localnet.chain.rent_exempt(165)
    assert ("returned when you sell it all" in texts.buy_done(bought)) == (swap_compose == "true")
    if swap_compose == "true":
        assert locked == 0 and sold.rent_returned_lamports == TOKEN_ACCOUNT_RENT
        assert localnet.chain.account(account) is None  # closed: nothing left on chain
    else:
        assert locked == TOKEN_ACCOUNT_RENT and sold.rent_returned_lamports == 0
        assert localnet.chain.account(account).lamports == TOKEN_ACCOUNT_RENT  # empty, rent locked in it
    buy, sell = await _trades(trader)
    assert (buy.rent_paid_lamports, buy.rent_returned_lamports) == (TOKEN_ACCOUNT_RENT, 0)
    assert sell.rent_returned_lamports == (TOKEN_ACCOUNT_RENT if swap_compose == "true" else 0)
    for trade in (buy, sell):
        assert trade.sol_change_lamports == _explained(trade)  # to the lamport
    assert buy.sol_change_lamports + sell.sol_change_lamports == trader.sol() - before
    # Rent is a deposit: neither the cost basis nor the realized PnL carries it.
    position = await Position.objects.aget(pk=buy.position_id)
    assert position.entry_cost_lamports == bought.lamports_in + bought.fee_lamports
    assert position.realized_pnl_lamports == sold.lamports_out - sold.fee_lamports - position.entry_cost_lamports
    assert [d for d in await audit_wallets(trader.engine.rpc) if d.public_key == trader.wallet.public_key] == []


async def test_the_trader_is_told_the_rent_paid_and_the_rent_returned(trader):
    bought = await trader.buy("BONK", SOL // 20)
    assert "0.00203928 SOL rent for the token account, returned when you sell it all" in texts.buy_done(bought)
    half = await trader.sell("BONK", "50%")
    assert "rent" not in texts.sell_done(half)
    rest = await trader.sell("BONK", "all")
    assert "its 0.00203928 SOL rent is back in your wallet" in texts.sell_done(rest)
    again = await trader.buy("BONK", SOL // 20)  # the account is gone: a new one is paid for again
    assert again.rent_paid_lamports == TOKEN_ACCOUNT_RENT


async def test_a_partial_sell_leaves_the_account_open_and_the_last_one_closes_it(trader, localnet):
    token = localnet.token("JUP")
    await trader.buy("JUP", SOL // 10)
    account = _account(trader, token.mint, token.program_id)
    first = await trader.sell("JUP", "50%")
    assert first.rent_returned_lamports == 0 and not first.position_closed
    assert localnet.chain.account(account).lamports == TOKEN_ACCOUNT_RENT
    last = await trader.sell("JUP", "all")
    assert last.position_closed and last.rent_returned_lamports == TOKEN_ACCOUNT_RENT
    assert localnet.chain.account(account) is None


async def test_a_token_2022_account_is_closed_on_a_full_exit_too(trader, localnet):
    token = localnet.create_token(f"T22C{next(_names)}", decimals=6, pool_sol_lamports=500 * SOL,
                                  pool_tokens_raw=10**12, token_2022=True)
    before = trader.sol()
    bought = await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    account = _account(trader, token.mint, token.program_id)
    rent = localnet.chain.account(account).lamports  # Token-2022's account is larger (ImmutableOwner)
    assert bought.rent_paid_lamports == rent > TOKEN_ACCOUNT_RENT
    from positions.amounts import SellAmount

    sold = await trader.engine.execute_sell(telegram_user_id=trader.id, mint=token.mint, amount=SellAmount.parse("all"))
    assert sold.rent_returned_lamports == rent and localnet.chain.account(account) is None
    assert before - trader.sol() == bought.lamports_in + bought.fee_lamports + sold.fee_lamports - sold.lamports_out


async def test_selling_the_position_but_not_the_whole_balance_closes_nothing(trader, localnet):
    token = localnet.token("NINE")
    await trader.buy("NINE", SOL // 10)
    account = _account(trader, token.mint, token.program_id)
    localnet.chain.mint_to(Pubkey.from_string(token.mint), Pubkey.from_string(trader.wallet.public_key), 7)  # a gift
    sold = await trader.sell("NINE", "all")  # the position, not the gift
    assert sold.position_closed and sold.rent_returned_lamports == 0
    assert trader.tokens("NINE") == 7 and localnet.chain.account(account) is not None


async def test_a_full_exit_settled_by_reconciliation_records_the_rent_returned(trader, localnet):
    from positions.errors import TradeFailed

    await trader.buy("WHOLE", SOL // 10)
    localnet.rpc.faults.fail_next(50, status=500, only="getTransaction")  # the sale lands; its details do not come
    with pytest.raises(TradeFailed):
        await trader.sell("WHOLE", "all")
    localnet.rpc.faults.clear()
    sell = (await _trades(trader))[-1]
    assert sell.status == "pending"
    await reconcile_pending(trader.engine.rpc)
    await sell.arefresh_from_db()
    assert sell.status == "confirmed" and sell.rent_returned_lamports == TOKEN_ACCOUNT_RENT
    assert sell.sol_change_lamports == _explained(sell)
    assert [d for d in await audit_wallets(trader.engine.rpc) if d.public_key == trader.wallet.public_key] == []


async def test_composing_costs_one_lookup_table_read_at_most_and_no_more_jupiter_requests(trader, localnet):
    """The figures: extra round trips of a composed trade against /swap (the lookup table read, only when the
    gateway has not read the table within seconds; the blockhash is read while Jupiter answers)."""
    token = localnet.create_token(f"RT{next(_names)}", decimals=6, pool_sol_lamports=500 * SOL,
                                  pool_tokens_raw=10**12)
    rpc, venue = localnet.rpc.requests, localnet.jupiter.requests
    reads_before, jupiter_before = rpc["getMultipleAccounts"], sum(venue.values())
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    first = rpc["getMultipleAccounts"] - reads_before
    assert sum(venue.values()) - jupiter_before == 2  # a quote and the instructions: as /swap's quote and swap
    reads_before = rpc["getMultipleAccounts"]
    await trader.engine.execute_buy(telegram_user_id=trader.id, mint=token.mint, lamports=SOL // 10)
    assert first == 1 and rpc["getMultipleAccounts"] - reads_before == 0  # the table, then from the cache
