"""Priority fees from the market: a trader on a market level pays the going compute-unit price for a swap, never
above their own priority fee, and lands where a trader paying a low fixed fee is passed over. Real localnet with
its fee market on (getRecentPrioritizationFees answers the level; sends paying under it are dropped), blocks
advancing on their own so an unlanded trade really expires."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from custody.services import update_setting
from positions.errors import TradeFailed
from positions.fees import SWAP_COMPUTE_UNITS
from positions.models import Trade
from telegrambot import texts
from tests.e2e.conftest import BlockClock, make_trader
from wallets.models import FeeLevel, UserSettings, UserWallet

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
SIGNATURE_FEE = 5_000
MARKET = 1_000_000  # micro-lamports per CU: a busy market, 0.0002 SOL for a swap's 200,000 units
MARKET_SWAP_LAMPORTS = MARKET * SWAP_COMPUTE_UNITS // 1_000_000


@pytest.fixture
def fee_market(localnet):
    """Turn localnet's fee market on (the shared localnet: put it back after the test)."""
    def set_market(level: int, *, drop_rate: float = 0.0) -> None:
        localnet.knobs.priority_fee_level, localnet.knobs.underpriced_drop_rate = level, drop_rate

    yield set_market
    set_market(0)


async def _set(trader, **values) -> None:
    for key, value in values.items():
        await sync_to_async(update_setting)(telegram_user_id=trader.id, key=key, value=value)


async def test_at_turbo_a_trade_lands_where_a_low_fixed_fee_loses_every_send(resending, localnet, fee_market):
    cheap, turbo = await make_trader(resending, localnet), await make_trader(resending, localnet)
    await _set(cheap, priority_fee=1_000)  # fixed: 1,000 lamports over 200,000 units, 5,000 micro-lamports a unit
    await _set(turbo, priority_fee=SOL // 1000, fee_level=FeeLevel.TURBO)
    fee_market(MARKET, drop_rate=1.0)
    mint = localnet.token("BONK").mint
    sends = localnet.rpc.requests["sendTransaction"]
    with BlockClock(localnet.chain):
        with pytest.raises(TradeFailed) as failed:
            await cheap.buy("BONK", SOL // 100)
        resent = localnet.rpc.requests["sendTransaction"] - sends
        bought = await turbo.buy("BONK", SOL // 100)
    assert failed.value.reason is TradeFailed.Reason.EXPIRED
    assert resent > 1  # it was resent, and every attempt was passed over for paying under the market
    assert cheap.sol() == 10 * SOL and cheap.tokens("BONK") == 0  # expired: nothing moved
    assert bought.priority_fee_level == FeeLevel.TURBO and turbo.tokens("BONK") == bought.received_raw > 0
    assert bought.fee_lamports == SIGNATURE_FEE + MARKET_SWAP_LAMPORTS  # the market's price, not the maximum
    assert await Trade.objects.filter(user=turbo.wallet, token_mint=mint, status="confirmed").acount() == 1


async def test_the_fee_paid_never_exceeds_the_traders_maximum(engine, localnet, fee_market):
    trader = await make_trader(engine, localnet)
    maximum = MARKET_SWAP_LAMPORTS // 4
    await _set(trader, priority_fee=maximum, fee_level=FeeLevel.TURBO)
    fee_market(MARKET)
    bought = await trader.buy("WIF", SOL // 100)
    await _set(trader, fee_level=FeeLevel.FAST)
    fee_market(MARKET * 100)
    sold = await trader.sell("WIF", "100%")
    assert bought.fee_lamports - SIGNATURE_FEE <= maximum and sold.fee_lamports - SIGNATURE_FEE <= maximum
    assert (bought.priority_fee_level, sold.priority_fee_level) == (FeeLevel.TURBO, FeeLevel.FAST)
    assert "turbo" in texts.buy_done(bought) and "fast" in texts.sell_done(sold)


async def test_a_calm_market_costs_a_market_level_less_than_the_maximum(engine, localnet, fee_market):
    trader = await make_trader(engine, localnet)
    await _set(trader, priority_fee=SOL // 1000, fee_level=FeeLevel.FAST)
    fee_market(10_000)  # 2,000 lamports for a swap
    bought = await trader.buy("JUP", SOL // 100)
    assert bought.fee_lamports == SIGNATURE_FEE + 10_000 * SWAP_COMPUTE_UNITS // 1_000_000


async def test_fixed_pays_the_traders_fee_whatever_the_market(engine, localnet, fee_market):
    trader = await make_trader(engine, localnet)
    await _set(trader, priority_fee=3_000)
    fee_market(MARKET)
    bought = await trader.buy("JUP", SOL // 100)
    assert bought.priority_fee_level == FeeLevel.FIXED and bought.fee_lamports == SIGNATURE_FEE + 3_000
    assert "fixed" not in texts.buy_done(bought) and "turbo" not in texts.buy_done(bought)


async def test_set_feelevel_turbo_round_trips_through_the_bot(bot, chat_factory, localnet, fee_market):
    chat = chat_factory()
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    assert (await UserSettings.objects.aget(user=wallet)).priority_fee_level == FeeLevel.FIXED  # the default
    refused = await chat.say("/set feelevel slow")
    assert "fixed, fast or turbo" in refused["text"]
    saved = await chat.say("/set feelevel turbo")
    assert "Fee level saved" in saved["text"]
    assert (await UserSettings.objects.aget(user=wallet)).priority_fee_level == FeeLevel.TURBO
    view = await chat.say("/settings")
    assert "Fee level: turbo" in view["text"] and "at most" in view["text"]
    await chat.say(localnet.token("BONK").mint)  # the token card says what a buy would offer
    card = await chat.telegram.wait_for(chat.user_id, lambda reply: reply["text"].startswith("Token"), timeout=10)
    assert "Priority fee: turbo, at most" in card["text"]
    localnet.chain.airdrop(wallet.public_key, SOL)
    fee_market(10_000)
    bought = await chat.say(f"/buy {localnet.token('BONK').mint} 0.01", timeout=20)
    while "Bought" not in bought["text"]:
        bought = await chat.telegram.next_reply(chat.user_id, timeout=20)
    assert "network fee, turbo" in bought["text"]
