"""Buy and sell through the real stack against localnet: what the ledger says must be what the chain did."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from solders.keypair import Keypair

from positions.amounts import SellAmount
from positions.errors import (
    DailyLossLimitReached,
    InsufficientBalance,
    InvalidMint,
    NoOpenPosition,
    SellAmountTooLarge,
    TradeTooLarge,
    TradingFrozen,
    UnknownToken,
)
from positions.models import Position, Trade
from positions.reconcile import audit_wallets
from telegrambot.texts import refusal
from tests.e2e.conftest import make_trader
from wallets.models import UserSettings, UserWallet

# Both ways of building the swap: composed from Jupiter's instructions (the default), and Jupiter's own /swap.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.parametrize("swap_compose", ["true", "false"])]
SOL = 10**9


async def _position(trader) -> Position:
    return await Position.objects.aget(user=trader.wallet, is_open=True)


async def _ledger_snapshot():
    trades = [t async for t in Trade.objects.order_by("pk").values()]
    positions = [p async for p in Position.objects.order_by("pk").values()]
    return trades, positions


async def test_buy_records_what_the_chain_delivered(trader):
    sol_before = trader.sol()
    result = await trader.buy("BONK", SOL // 10)
    position = await _position(trader)
    assert result.received_raw > 0
    assert position.remaining_amount_raw == result.received_raw == trader.tokens("BONK")
    assert position.remaining_cost_lamports == SOL // 10 + result.fee_lamports
    trade = await Trade.objects.aget(signature=result.signature)
    assert trade.status == "confirmed" and trade.side == "buy"
    assert trade.sol_change_lamports == trader.sol() - sol_before


async def test_selling_half_keeps_the_position_open(trader):
    bought = await trader.buy("WIF", SOL // 2)
    result = await trader.sell("WIF", "50%")
    position = await _position(trader)
    assert position.remaining_amount_raw == bought.received_raw - bought.received_raw // 2
    assert trader.tokens("WIF") == position.remaining_amount_raw
    assert result.realized_pnl_lamports == position.realized_pnl_lamports
    assert position.realized_amount_lamports == result.lamports_out > 0
    assert not result.position_closed


async def test_selling_500_of_1000_tokens_then_all(trader):
    token = trader.localnet.token("JUP")
    await trader.buy("JUP", SOL)
    position = await _position(trader)
    held = position.remaining_amount_raw
    five_hundred = 500 * 10**token.decimals
    assert held > five_hundred, "the seeded JUP price should give more than 500 tokens for 1 SOL"
    await trader.sell("JUP", "500")
    position = await _position(trader)
    assert position.is_open and position.remaining_amount_raw == held - five_hundred
    result = await trader.sell("JUP", "all")
    assert result.position_closed
    closed = await Position.objects.aget(pk=position.pk)
    assert not closed.is_open and closed.closed_at is not None and closed.remaining_amount_raw == 0
    assert trader.tokens("JUP") == 0


async def test_buying_twice_averages_into_one_position(trader):
    first = await trader.buy("BONK", SOL // 10)
    second = await trader.buy("BONK", SOL // 5)
    position = await _position(trader)
    assert position.remaining_amount_raw == first.received_raw + second.received_raw
    assert position.entry_cost_lamports == 3 * SOL // 10 + first.fee_lamports + second.fee_lamports


async def test_u64_supply_token_trades(trader):
    result = await trader.buy("MAXI", SOL)
    assert result.received_raw > 2**63  # beyond a signed 64-bit integer
    assert (await _position(trader)).remaining_amount_raw == result.received_raw == trader.tokens("MAXI")
    await trader.sell("MAXI", "all")
    assert trader.tokens("MAXI") == 0


async def _assert_refused_and_unchanged(trader, action, error_type, *, message_part: str):
    ledger = await _ledger_snapshot()
    sol = trader.sol()
    with pytest.raises(error_type) as caught:
        await action()
    assert message_part in refusal(caught.value)
    assert await _ledger_snapshot() == ledger
    assert trader.sol() == sol
    return caught.value


async def test_buy_above_the_max_trade_size_is_refused(trader):
    await _assert_refused_and_unchanged(trader, lambda: trader.buy("BONK", 6 * SOL), TradeTooLarge,
                                        message_part="maximum trade size of 5 SOL")


async def test_buy_above_the_users_own_limit_is_refused(trader):
    await UserSettings.objects.filter(user=trader.wallet).aupdate(max_trade_size_lamports=SOL // 4)
    await _assert_refused_and_unchanged(trader, lambda: trader.buy("BONK", SOL // 2), TradeTooLarge,
                                        message_part="0.25 SOL")


async def test_frozen_user_cannot_trade(trader):
    await trader.buy("BONK", SOL // 10)
    await UserWallet.objects.filter(pk=trader.wallet.pk).aupdate(is_frozen=True)
    await _assert_refused_and_unchanged(trader, lambda: trader.buy("BONK", SOL // 10), TradingFrozen,
                                        message_part="paused")
    await _assert_refused_and_unchanged(trader, lambda: trader.sell("BONK", "all"), TradingFrozen,
                                        message_part="paused")


async def test_buy_without_enough_sol_is_refused(engine, localnet, transactional_db):
    poor = await make_trader(engine, localnet, sol=0)
    localnet.chain.airdrop(poor.wallet.public_key, SOL // 10)
    error = await _assert_refused_and_unchanged(poor, lambda: poor.buy("BONK", SOL // 10), InsufficientBalance,
                                                message_part="Not enough SOL")
    assert "0.1 SOL" in refusal(error)


@pytest.mark.parametrize("mint", ["not-a-mint", "0OIl" * 10, "x" * 10_000, ""])
async def test_invalid_mint_is_refused(trader, mint):
    with pytest.raises(InvalidMint) as caught:
        await trader.engine.execute_buy(telegram_user_id=trader.id, mint=mint, lamports=SOL // 10)
    assert "is not a Solana token address" in refusal(caught.value)
    assert len(refusal(caught.value)) < 400


async def test_unknown_mint_is_refused(trader):
    stranger = str(Keypair().pubkey())
    await _assert_refused_and_unchanged(
        trader, lambda: trader.engine.execute_buy(telegram_user_id=trader.id, mint=stranger, lamports=SOL // 10),
        UnknownToken, message_part="No token exists")


async def test_selling_more_than_held_is_refused(trader):
    await trader.buy("BONK", SOL // 10)
    position = await _position(trader)
    too_many = SellAmount.tokens(position.remaining_amount_tokens + 1)
    await _assert_refused_and_unchanged(trader, lambda: trader.sell("BONK", too_many), SellAmountTooLarge,
                                        message_part="You asked to sell")


async def test_selling_without_a_position_is_refused(trader):
    await _assert_refused_and_unchanged(trader, lambda: trader.sell("WIF", "all"), NoOpenPosition,
                                        message_part="no open position")


async def test_daily_loss_limit_stops_buys_but_not_sells(engine, localnet, trader):
    await UserSettings.objects.filter(user=trader.wallet).aupdate(daily_loss_limit_lamports=SOL // 100)
    await trader.buy("WIF", SOL)
    # Another trader dumps the token: the price falls by about a third.
    localnet.swap_as(localnet.funded_keypair(sol=1), localnet.token("WIF").mint, localnet.sol_mint,
                     trader.tokens("WIF") * 1_000)
    await trader.sell("WIF", "50%")  # at a loss
    error = await _assert_refused_and_unchanged(trader, lambda: trader.buy("BONK", SOL // 10),
                                                DailyLossLimitReached, message_part="daily loss limit")
    assert "UTC" in refusal(error) and "Selling is still allowed" in refusal(error)
    await trader.sell("WIF", "all")  # sells stay allowed
    assert not await Position.objects.filter(user=trader.wallet, is_open=True).aexists()


async def test_ledger_explains_every_wallet_after_trading(engine, localnet, transactional_db):
    traders = [await make_trader(engine, localnet) for _ in range(3)]
    for index, trader in enumerate(traders):
        await trader.buy("BONK", SOL // 10 * (index + 1))
        await trader.buy("JUP", SOL // 5)
        await trader.sell("BONK", "33%")
    await traders[0].sell("JUP", "all")
    differences = await audit_wallets(engine.rpc)
    mine = {t.wallet.public_key for t in traders}
    assert [d for d in differences if d.public_key in mine] == []
    counts = await sync_to_async(lambda: Trade.objects.filter(status="confirmed").count())()
    assert counts == 3 * 3 + 1


async def test_ledger_equals_chain_after_200_random_trades(engine, localnet, transactional_db):
    """A seeded random walk of buys and sells (whole, partial, by amount) over users and mints; afterwards every
    position equals its on-chain balance and the audit finds nothing unexplained."""
    import random

    from positions.errors import TradingError

    rng = random.Random(20261124)
    traders = [await make_trader(engine, localnet, sol=50) for _ in range(4)]
    symbols = ["BONK", "WIF", "JUP", "NINE", "WHOLE"]
    done = 0
    while done < 200:
        trader, symbol = rng.choice(traders), rng.choice(symbols)
        holding = await Position.objects.filter(user=trader.wallet, token_mint=localnet.token(symbol).mint,
                                                is_open=True).afirst()
        try:
            if holding is None or rng.random() < 0.45:
                await trader.buy(symbol, rng.randint(1, 50) * SOL // 100)
            else:
                await trader.sell(symbol, rng.choice(["all", "50%", "10%", "99.9%", "33%"]))
        except TradingError:
            continue  # e.g. a 10% of a tiny remainder: refused cleanly, nothing changed
        done += 1
    for trader in traders:
        async for position in Position.objects.filter(user=trader.wallet, is_open=True):
            assert position.remaining_amount_raw == localnet.chain.token_balance(trader.wallet.public_key,
                                                                                  position.token_mint)
            assert position.reserved_raw == 0
    mine = {t.wallet.public_key for t in traders}
    assert [d for d in await audit_wallets(engine.rpc) if d.public_key in mine] == []
    assert not await Trade.objects.filter(status="pending").aexists()


async def test_a_token_with_no_route_is_refused_before_anything_is_sent(trader, localnet):
    from positions.errors import ServiceUnavailable

    orphan = localnet.tokens.get("ORPHAN") or localnet.create_token(
        "ORPHAN", decimals=6, pool_sol_lamports=SOL, pool_tokens_raw=10**12, listed=False)
    error = await _assert_refused_and_unchanged(
        trader, lambda: trader.engine.execute_buy(telegram_user_id=trader.id, mint=orphan.mint, lamports=SOL // 10),
        ServiceUnavailable, message_part="No swap route was found")
    assert "smaller amount" in refusal(error)


async def test_a_ledger_claiming_more_than_the_chain_holds_stops_the_sale_and_alerts(trader, caplog):
    """A real mismatch (the position, unchanged since it was loaded, records more than the wallet holds on chain)
    stops the sale with an operator alert; a position another sale changed meanwhile is not one (worker races)."""
    from positions.errors import ChainShortfall

    bought = await trader.buy("BONK", SOL // 10)
    await Position.objects.filter(pk=bought.position_id).aupdate(entry_amount_raw=bought.received_raw + 1000,
                                                                 remaining_amount_raw=bought.received_raw + 1000)
    with pytest.raises(ChainShortfall):
        await trader.sell("BONK", "all")
    assert "Ledger/chain mismatch" in caplog.text
    assert trader.tokens("BONK") == bought.received_raw
    assert not await Trade.objects.filter(user=trader.wallet, side="sell").aexists()
