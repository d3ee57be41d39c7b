"""MEV protection: a trader who turns it on trades through the block engine (a bundle with a tip, never the public
RPC), the tip is recorded and reconciled to the lamport, a sandwicher watching the public RPC gets the unprotected
trade and not the protected one, and a swap API that inflates the tip is refused before signing."""

from __future__ import annotations

import random

import pytest
from asgiref.sync import sync_to_async

from custody.errors import SettingRefused, SwapRefused
from custody.services import update_setting
from kernel.chain.jupiter import JupiterClient
from kernel.chain.rpc import RpcGateway
from kernel.config import load_config
from positions.errors import MevProtectionUnavailable
from positions.models import Trade
from positions.reconcile import audit_wallets
from positions.trade_policy import change_setting
from positions.trading import TradingService
from telegrambot import texts
from tests.e2e.conftest import BlockClock, buttons, make_trader
from tests.settings import TEST_WALLET_KEY
from wallets.crypto import Keyring
from wallets.models import UserSettings, UserWallet

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
SIGNATURE_FEE = 5_000
TOKEN_ACCOUNT_RENT = 2_039_280
TIP = 100_000  # the default: 0.0001 SOL
# composed by the bot (its own tip transfer), and Jupiter's /swap asked for jitoTipLamports (Jupiter's tip transfer)
BOTH_PATHS = pytest.mark.parametrize("swap_compose", ["true", "false"])


async def _protect(trader, *, tip: int = TIP, slippage_bps: int | None = None) -> None:
    await sync_to_async(update_setting)(telegram_user_id=trader.id, key="mev_protection", value=True)
    await sync_to_async(update_setting)(telegram_user_id=trader.id, key="jito_tip", value=tip)
    if slippage_bps is not None:
        await sync_to_async(update_setting)(telegram_user_id=trader.id, key="slippage", value=slippage_bps)


@BOTH_PATHS
async def test_a_protected_buy_and_sell_go_by_the_block_engine_and_the_tip_is_explained_to_the_lamport(engine,
                                                                                                         localnet):
    trader = await make_trader(engine, localnet)
    await _protect(trader)
    public_sends, bundles = localnet.rpc.requests["sendTransaction"], localnet.block_engine.requests["sendBundle"]
    bought = await trader.buy("WIF", SOL // 10)
    assert bought.protected and bought.tip_lamports == TIP and bought.fee_lamports == SIGNATURE_FEE  # no priority fee
    buy = await Trade.objects.aget(signature=bought.signature)
    assert buy.tip_lamports == TIP
    assert buy.sol_change_lamports == -(buy.lamports_in + buy.fee_lamports + TIP + TOKEN_ACCOUNT_RENT)
    assert trader.sol() == 10 * SOL + buy.sol_change_lamports
    sold = await trader.sell("WIF", "100%")
    sell = await Trade.objects.aget(signature=sold.signature)
    assert sold.protected and sell.tip_lamports == TIP
    # a full exit: the composed swap closes the token account, and its rent comes back too
    assert sell.sol_change_lamports == sell.lamports_out - sell.fee_lamports - TIP + sell.rent_returned_lamports
    assert sell.rent_returned_lamports == (TOKEN_ACCOUNT_RENT if engine.config.swap_compose else 0)
    assert sell.realized_pnl_lamports == sell.lamports_out - sell.fee_lamports - TIP - sell.cost_basis_lamports
    assert localnet.rpc.requests["sendTransaction"] == public_sends  # never seen in the open
    assert localnet.block_engine.requests["sendBundle"] - bundles >= 2
    assert not {bought.signature, sold.signature} & {s.victim for s in localnet.sandwiches}
    assert trader.sol() == 10 * SOL + buy.sol_change_lamports + sell.sol_change_lamports
    assert await audit_wallets(engine.rpc) == []  # 0 lamports unexplained
    assert "0.0001 SOL MEV tip" in texts.buy_done(bought) and "MEV tip" in texts.sell_done(sold)


@BOTH_PATHS
async def test_with_the_sandwicher_on_an_open_buy_gets_its_minimum_and_the_protected_one_its_quote(engine, localnet):
    localnet.knobs.sandwich_min_lamports = SOL
    exposed, protected = await make_trader(engine, localnet), await make_trader(engine, localnet)
    await sync_to_async(update_setting)(telegram_user_id=exposed.id, key="slippage", value=1000)  # 10%: room
    await _protect(protected, slippage_bps=1000)
    open_buy = await exposed.buy("BONK", 3 * SOL)
    private_buy = await protected.buy("BONK", 3 * SOL)
    victims = {s.victim for s in localnet.sandwiches}
    assert open_buy.signature in victims and private_buy.signature not in victims
    sandwiched = await Trade.objects.aget(signature=open_buy.signature)
    spared = await Trade.objects.aget(signature=private_buy.signature)
    assert sandwiched.amount_out_raw - sandwiched.min_out < sandwiched.quoted_out // 10_000  # just its minimum
    assert spared.amount_out_raw == spared.quoted_out  # the quote, in full
    assert exposed.tokens("BONK") == sandwiched.amount_out_raw and protected.tokens("BONK") == spared.amount_out_raw


async def test_a_bundle_the_engine_loses_is_resent_until_it_lands(resending, localnet):
    trader = await make_trader(resending, localnet)
    await _protect(trader)
    localnet.knobs.random = random.Random(3)
    localnet.knobs.bundle_drop_rate = 0.6
    bundles = localnet.block_engine.requests["sendBundle"]
    with BlockClock(localnet.chain):
        bought = await trader.buy("JUP", SOL // 20)
    assert trader.tokens("JUP") == bought.received_raw > 0 and bought.tip_lamports == TIP
    assert localnet.block_engine.requests["sendBundle"] - bundles > 1  # resent
    assert (await Trade.objects.aget(signature=bought.signature)).status == "confirmed"


@BOTH_PATHS
async def test_a_swap_that_inflates_the_tip_is_refused_before_signing(engine, localnet):
    trader, unprotected = await make_trader(engine, localnet), await make_trader(engine, localnet)
    await _protect(trader)
    localnet.jupiter.attack = "inflated_tip"
    try:
        with pytest.raises(SwapRefused) as caught:
            await trader.buy("BONK", SOL // 10)
        with pytest.raises(SwapRefused) as also:
            await unprotected.buy("BONK", SOL // 10)
    finally:
        localnet.jupiter.attack = None
    assert (caught.value.check, caught.value.finding) == ("tip", "tip_above_cap")
    assert also.value.check == "tip"  # no tip at all is allowed on an unprotected trade
    assert trader.sol() == unprotected.sol() == 10 * SOL
    assert not await Trade.objects.filter(user__in=[trader.wallet, unprotected.wallet]).aexists()
    assert "more than your MEV tip of 100000 lamports" in texts.refusal(caught.value)


async def test_protection_on_with_no_block_engine_sends_nothing(trading_config, localnet, transactional_db):
    rpc = RpcGateway(trading_config.solana_rpc_url, timeout=5.0, backoff=0.05)
    jupiter = JupiterClient(trading_config.jupiter_api_url, timeout=5.0, backoff=0.05)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(trading_config.wallet_encryption_keys),
                            config=trading_config)  # the operator took JITO_BLOCK_ENGINE_URL away
    try:
        trader = await make_trader(engine, localnet)
        await _protect(trader)
        with pytest.raises(MevProtectionUnavailable) as caught:
            await trader.buy("BONK", SOL // 10)
    finally:
        await rpc.close()
        await jupiter.close()
    assert trader.sol() == 10 * SOL and "/set mev off" in texts.refusal(caught.value)


async def test_turning_it_on_is_refused_when_the_operator_has_no_block_engine(engine, localnet):
    trader = await make_trader(engine, localnet, sol=0)
    unconfigured = load_config({"WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY})
    from django.utils import timezone

    with pytest.raises(SettingRefused) as caught:
        await sync_to_async(change_setting)(telegram_user_id=trader.id, key="mev_protection", value=True,
                                            now=timezone.now(), config=unconfigured, source="test")
    assert "has not configured a block engine" in texts.refusal(caught.value)
    assert not (await UserSettings.objects.aget(user=trader.wallet)).mev_protection
    off = await sync_to_async(change_setting)(telegram_user_id=trader.id, key="mev_protection", value=False,
                                              now=timezone.now(), config=unconfigured, source="test")
    assert off.effective_at is None  # off is always allowed


async def test_mev_protection_and_its_tip_in_the_settings_and_on_the_token_card(bot, chat_factory, localnet):
    chat = chat_factory()
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    view = await chat.say("/settings")
    assert "MEV protection: off · tip 0.0001 SOL" in view["text"]
    assert "Toggle MEV protection" in buttons(view) and "MEV tip" in buttons(view)
    assert "MEV protection saved" in (await chat.say("/set mev on"))["text"]
    await chat.telegram.next_reply(chat.user_id)  # the settings screen again
    assert "at most 0.01" in (await chat.say("/set tip 0.02"))["text"]
    assert "at least" in (await chat.say("/set tip 0.0000001"))["text"]
    assert "MEV tip saved" in (await chat.say("/set tip 0.0002"))["text"]
    view = await chat.telegram.next_reply(chat.user_id)
    assert "MEV protection: on · tip 0.0002 SOL" in view["text"]
    settings = await UserSettings.objects.aget(user=wallet)
    assert settings.mev_protection and settings.jito_tip_lamports == 200_000
    card = await chat.say(localnet.token("BONK").mint)
    if not card["text"].startswith("Token"):  # a progress line may come first
        card = await chat.telegram.wait_for(chat.user_id, lambda reply: reply["text"].startswith("Token"))
    assert "MEV protection: on, tip 0.0002 SOL instead of a priority fee" in card["text"]
    localnet.chain.airdrop(wallet.public_key, SOL)
    bought = await chat.say(f"/buy {localnet.token('BONK').mint} 0.01", timeout=20)
    while "Bought" not in bought["text"]:
        bought = await chat.telegram.next_reply(chat.user_id, timeout=20)
    assert "0.0002 SOL MEV tip" in bought["text"]
    pressed = await chat.press(view, buttons(view)["Toggle MEV protection"])
    assert "MEV protection saved" in pressed["text"]
    assert not (await UserSettings.objects.aget(user=wallet)).mev_protection


async def test_turning_it_off_under_withdrawal_protection_waits_the_safety_delay(bot, chat_factory):
    chat = chat_factory()
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    assert "MEV protection saved" in (await chat.say("/set mev on"))["text"]
    await chat.telegram.next_reply(chat.user_id)
    assert "now wait" in (await chat.say("/withdrawdelay 5"))["text"]  # protection on
    answer = await chat.say("/set mev off")
    assert "waits for safety" in answer["text"]
    assert (await UserSettings.objects.aget(user=wallet)).mev_protection  # still on meanwhile
    await chat.telegram.next_reply(chat.user_id)
    assert "MEV tip saved" in (await chat.say("/set tip 0.001"))["text"]  # a cost like the priority fee: at once


async def test_a_block_engine_that_fails_the_first_send_never_fails_the_trade(resending, localnet):
    trader = await make_trader(resending, localnet)
    await _protect(trader)
    await resending.known_tip_accounts()  # read before the outage
    localnet.block_engine.faults.fail_next(2, status=503, only="sendBundle")
    with BlockClock(localnet.chain):
        bought = await trader.buy("WIF", SOL // 20)
    assert (await Trade.objects.aget(signature=bought.signature)).status == "confirmed"
    assert trader.tokens("WIF") == bought.received_raw > 0 and bought.tip_lamports == TIP
