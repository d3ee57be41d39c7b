"""The operators' checklist, end to end: the real Application, the Bot API stand-in, localnet, the database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from positions.errors import UnknownToken
from positions.models import Position, Trade
from telegrambot import texts
from tests.e2e.conftest import buttons
from wallets.models import UserSettings, UserWallet, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


async def _started(chat, localnet, *, sol: int = 10) -> UserWallet:
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    if sol:
        localnet.chain.airdrop(wallet.public_key, sol * SOL)
    return wallet


async def test_start_creates_wallet_and_settings_from_config_defaults(bot, chat_factory, bot_config):
    chat = chat_factory()
    reply = await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    settings = await UserSettings.objects.aget(user=wallet)
    assert wallet.public_key in reply["text"] and "Welcome!" in reply["text"]
    assert settings.max_trade_size_lamports == bot_config.trading.max_trade_size_lamports
    assert settings.slippage_bps == bot_config.trading.default_slippage_bps
    assert settings.priority_fee_lamports == 1000
    assert set(buttons(reply)) >= {"Buy", "Sell", "Positions", "Wallet", "Settings", "Help", "Refresh"}
    again = await chat.say("/start")
    assert "Welcome back" in again["text"]
    assert await UserWallet.objects.filter(telegram_user_id=chat.user_id).acount() == 1


async def test_buy_then_sell_500_of_1000_then_all(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    jup = localnet.token("JUP")
    bought = await chat.final(await chat.say(f"/buy {jup.mint} 1"))
    assert "Bought" in bought["text"] and "View transaction" in bought["text"]
    link_texts = [params.get("text", "") for method, params in chat.telegram.calls if method == "editMessageText"]
    assert any("https://solscan.io/tx/" in text for text in link_texts)
    position = await Position.objects.aget(user=wallet, is_open=True)
    held = position.remaining_amount_raw
    sold = await chat.final(await chat.say(f"/sell {jup.mint} 500"))
    assert "Sold" in sold["text"], sold["text"]
    position = await Position.objects.aget(pk=position.pk)
    assert position.is_open and position.remaining_amount_raw == held - 500 * 10**jup.decimals
    assert "rent for the token account, returned when you sell it all" in bought["text"]
    assert "rent" not in sold["text"]
    closed = await chat.final(await chat.say(f"/sell {jup.mint} all"))
    assert "Position closed" in closed["text"]
    assert "The token account is closed: its 0.00203928 SOL rent is back in your wallet" in closed["text"]
    assert not (await Position.objects.aget(pk=position.pk)).is_open


async def test_the_same_through_buttons(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    bonk = localnet.token("BONK")
    card = await chat.say(bonk.mint)
    assert "You hold: 0" in card["text"]
    bought = await chat.final(await chat.press(card, buttons(card)["Buy 0.1 SOL"]))
    assert "Bought" in bought["text"]
    listing = await chat.say("/positions")
    assert bonk.mint in listing["text"] and "PnL" in listing["text"]
    half = await chat.final(await chat.press(listing, buttons(listing)["#1 Sell 50%"]))
    assert "Sold" in half["text"] and "Still holding" in half["text"]
    listing = await chat.say("/positions")
    rest = await chat.final(await chat.press(listing, buttons(listing)["#1 Sell 100%"]))
    assert "Position closed" in rest["text"]
    assert not await Position.objects.filter(user=wallet, is_open=True).aexists()


async def test_confirm_trades_asks_before_buying(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    await chat.say("/set confirm on")
    await chat.telegram.next_reply(chat.user_id)  # the settings view after saving
    question = await chat.say(f"/buy {localnet.token('BONK').mint} 0.1")
    assert "Buy" in question["text"] and "?" in question["text"]
    assert not await Trade.objects.filter(user=wallet).aexists()
    cancelled = await chat.press(question, buttons(question)["Cancel"])
    assert "Cancelled" in cancelled["text"]
    question = await chat.say(f"/buy {localnet.token('BONK').mint} 0.1")
    done = await chat.final(await chat.press(question, buttons(question)["✅ Buy"]))
    assert "Bought" in done["text"]


BAD_INPUTS = [
    ("/buy", "Usage: /buy"),
    ("/buy abc 1", "is not a valid token mint address"),
    ("/buy {mint}", "Usage: /buy"),
    ("/buy {mint} abc", "is not a plain number"),
    ("/buy {mint} -1", "must not be negative"),
    ("/buy {mint} 0", "must be more than zero"),
    ("/buy {mint} 1e309", "is not a plain number"),
    ("/buy {mint} NaN", "is not a plain number"),
    ("/buy {mint} ٣", "is not a plain number"),
    ("/buy {mint} 0.0000000001", "more than 9 decimal places"),
    ("/buy {mint} 99", "maximum trade size"),
    ("/sell", "Usage: /sell"),
    ("/sell {mint} 50%%", "is not a plain number"),
    ("/sell {mint} 150%", "at most 100%"),
    ("/sell {mint} abc", "is not a plain number"),
    ("/sell {mint} -5", "must not be negative"),
    ("/sell {mint} 0", "more than zero"),
    ("/sell {mint} all", "no open position"),
    ("/withdraw", "Usage: /withdraw"),
    ("/withdraw nothere 1", "not a valid destination wallet address"),
    ("/set slippage 99", "between 0.01 and 50"),
    ("/set slippage abc", "is not a plain number"),
    ("/set teleport 1", "no setting called"),
    ("/set stoploss 150", "between 0.1 and 99"),
    ("/set priorityfee 5", "almost certainly a typo"),
    ("/dance", "don't know that command"),
    ("hello there", "didn't understand"),
    ("x" * 10_000, "too long"),
]


@pytest.mark.parametrize(("command", "expected"), BAD_INPUTS)
async def test_bad_input_gets_a_specific_answer_and_changes_nothing(bot, chat_factory, localnet, command, expected):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    settings_before = [row async for row in UserSettings.objects.filter(user=wallet).values()]
    reply = await chat.final(await chat.say(command.format(mint=localnet.token("BONK").mint)))
    assert expected in reply["text"], reply["text"]
    assert texts.SERVICE_PROBLEM not in reply["text"]
    assert [row async for row in UserSettings.objects.filter(user=wallet).values()] == settings_before
    assert not await Trade.objects.filter(user=wallet).aexists()
    assert not await Withdrawal.objects.filter(user=wallet).aexists()


async def test_withdrawal_refusals_and_a_confirmed_withdrawal(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=2)
    own = await chat.say(f"/withdraw {wallet.public_key} 1")
    assert "own address" in own["text"]
    destination = localnet.funded_keypair(sol=1).pubkey()
    too_much = await chat.say(f"/withdraw {destination} 5")
    assert "at most" in too_much["text"]
    question = await chat.say(f"/withdraw {destination} 0.5")
    assert "Network fee" in question["text"] and str(destination) in question["text"]
    before = localnet.chain.sol_balance(str(destination))
    done = await chat.final(await chat.press(question, buttons(question)["✅ Withdraw"]))
    assert "Sent 0.5 SOL" in done["text"]
    assert localnet.chain.sol_balance(str(destination)) == before + SOL // 2
    withdrawal = await Withdrawal.objects.aget(user=wallet)
    assert withdrawal.status == "confirmed" and withdrawal.sol_change_lamports == -(SOL // 2 + 5000)


async def test_export_key_asks_first_and_deletes_the_key_message(bot, chat_factory, localnet, keyring):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    warning = await chat.say("/exportkey")
    assert "full control" in warning["text"]
    key_message = await chat.press(warning, buttons(warning)["✅ Show my key"])
    from wallets.signing import export_secret_base58

    assert export_secret_base58(wallet=wallet, keyring=keyring) in key_message["text"]
    deleted_notice = await chat.telegram.next_reply(chat.user_id, timeout=10)
    assert deleted_notice["text"] == texts.KEY_DELETED
    remaining = [m.get("text", "") for m in chat.telegram.messages(chat.user_id)]
    assert not any(export_secret_base58(wallet=wallet, keyring=keyring) in text for text in remaining)


async def test_metrics_is_for_admins_only(bot, chat_factory, telegram):
    from tests.e2e.conftest import Chat

    stranger = chat_factory()
    await stranger.say("/start")
    assert (await stranger.say("/metrics"))["text"] == texts.ADMIN_ONLY
    admin = Chat(telegram, 900001)
    await admin.say("/start")
    report = await admin.say("/metrics")
    assert "Success rate" in report["text"] and "Users:" in report["text"]


async def test_a_forged_button_cannot_touch_another_users_position(bot, chat_factory, localnet):
    victim, attacker = chat_factory(), chat_factory()
    victim_wallet = await _started(victim, localnet)
    await _started(attacker, localnet)
    await victim.final(await victim.say(f"/buy {localnet.token('BONK').mint} 0.1"))
    position = await Position.objects.aget(user=victim_wallet, is_open=True)
    own_menu = await attacker.say("/start")
    reply = await attacker.press(own_menu, f"s:{position.pk}:100", forge=True)
    assert reply["text"].endswith(texts.NOT_YOURS)
    after = await Position.objects.aget(pk=position.pk)
    assert after.is_open and after.remaining_amount_raw == position.remaining_amount_raw
    assert victim_wallet.public_key not in reply["text"]


async def test_settings_change_through_buttons_and_typed_values(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    view = await chat.say("/settings")
    prompt = await chat.press(view, buttons(view)["Slippage"])
    assert "slippage" in prompt["text"].lower()
    saved = await chat.say("2.5")
    assert "Slippage saved" in saved["text"]
    assert (await UserSettings.objects.aget(user=wallet)).slippage_bps == 250
    view = await chat.telegram.next_reply(chat.user_id)
    await chat.press(view, buttons(view)["Toggle sniping"])
    assert (await UserSettings.objects.aget(user=wallet)).snipe_enabled


async def test_a_flood_of_commands_is_throttled_with_one_notice(bot, chat_factory):
    chat = chat_factory()
    await chat.say("/start")
    bot.deps.throttle_limit = 3
    bot.deps.throttle_window_seconds = 60
    for _ in range(8):
        await chat.telegram.send_text(chat.user_id, "/help")
    replies = [await chat.telegram.next_reply(chat.user_id) for _ in range(3)]
    # the /start above already counted: two /help answers, then one notice, then silence
    assert [r["text"] == texts.THROTTLED for r in replies].count(True) == 1
    with pytest.raises(TimeoutError):
        await chat.telegram.next_reply(chat.user_id, timeout=0.5)


async def test_telegrams_429_is_honoured_and_the_reply_still_arrives(bot, chat_factory, telegram):
    chat = chat_factory()
    await chat.say("/start")
    telegram.faults.fail_next(1, status=429, retry_after=1)
    reply = await chat.say("/help", timeout=20)
    assert "/buy" in reply["text"]
    sends = [method for method, _ in telegram.calls if method == "sendMessage"]
    assert len(sends) >= 2


async def test_a_second_trade_waits_for_the_first(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    mint = localnet.token("BONK").mint
    localnet.jupiter.faults.latency_ms = 400  # keep the first trade in flight
    await chat.telegram.send_text(chat.user_id, f"/buy {mint} 0.1")
    await chat.telegram.send_text(chat.user_id, f"/buy {mint} 0.1")
    texts_seen = []
    while not any("Bought" in text for text in texts_seen):
        texts_seen.append((await chat.telegram.next_reply(chat.user_id, timeout=20))["text"])
    assert any(texts.TRADE_IN_PROGRESS in text for text in texts_seen)
    assert await Trade.objects.filter(user__telegram_user_id=chat.user_id).acount() == 1


async def test_positions_are_paged_so_every_reply_fits_telegram(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet, sol=10)
    for index in range(23):
        token = localnet.create_token(f"PG{index}", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15)
        await bot.deps.trading.execute_buy(telegram_user_id=chat.user_id, mint=token.mint, lamports=10**7)
    first = await chat.say("/positions")
    assert "1–10 of 23 (page 1 of 3)" in first["text"] and "/positions 2" in first["text"]
    assert first["text"].count("PnL:") == 10 and "Next ▶" in buttons(first)
    last = await chat.press(first, buttons(first)["Next ▶"])
    assert "11–20 of 23" in last["text"]
    third = await chat.say("/positions 3")
    assert "21–23 of 23" in third["text"] and third["text"].count("PnL:") == 3 and "Next ▶" not in buttons(third)
    assert "#23 Sell 100%" in buttons(third)
    assert "page 3 of 3" in (await chat.say("/positions 99"))["text"]
    assert "Usage: /positions [page]" in (await chat.say("/positions two"))["text"]


async def test_a_pasted_address_with_no_token_gets_the_same_words_as_a_buy_of_it(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    nowhere = str(localnet.funded_keypair(sol=1).pubkey())  # a wallet, not a mint
    card = await chat.say(nowhere)
    assert card["text"] == texts.refused(texts.refusal(UnknownToken(nowhere)))


async def test_sl_off_turns_the_positions_stop_loss_off_and_default_follows_settings_again(bot, chat_factory,
                                                                                         localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    await UserSettings.objects.filter(user=wallet).aupdate(stop_loss_percentage=20, take_profit_percentage=50)
    mint = localnet.token("JUP").mint
    await chat.final(await chat.say(f"/buy {mint} 0.1"))
    position = await Position.objects.aget(user=wallet, is_open=True)
    assert "Stop loss for this position: off" in (await chat.say(f"/sl {mint} off"))["text"]
    assert "Take profit for this position: off" in (await chat.say(f"/tp {mint} off"))["text"]
    await position.arefresh_from_db()
    assert position.stop_loss_percentage == 0 and position.take_profit_percentage == 0
    shown = (await chat.say("/positions"))["text"]
    assert "20%" not in shown and "50%" not in shown  # the defaults do not apply to this position
    assert "your default from /settings" in (await chat.say(f"/sl {mint} default"))["text"]
    assert "12.5%" in (await chat.say(f"/tp {mint} 12.5"))["text"]
    await position.arefresh_from_db()
    assert position.stop_loss_percentage is None and position.take_profit_percentage == Decimal("12.5")
    assert "off | default" in (await chat.say(f"/sl {mint}"))["text"]


async def test_a_sale_whose_fee_exceeds_its_proceeds_is_asked_about_first(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    bonk = localnet.token("BONK")
    await chat.final(await chat.say(f"/buy {bonk.mint} 0.01"))
    position = await Position.objects.aget(user=wallet, is_open=True)
    held = position.remaining_amount_raw
    question = await chat.say(f"/sell {bonk.mint} 1")  # one token: worth less than the 0.000006 SOL fee
    assert question["text"].startswith("⚠️ This sale would bring in about") and "network fee is up to" in \
        question["text"], question["text"]
    assert set(buttons(question)) == {"✅ Sell anyway", "Cancel"}
    await position.arefresh_from_db()
    assert position.remaining_amount_raw == held  # nothing sold while it asks
    assert (await chat.press(question, buttons(question)["Cancel"]))["text"] == texts.CANCELLED
    question = await chat.say(f"/sell {bonk.mint} 1")
    sold = await chat.final(await chat.press(question, buttons(question)["✅ Sell anyway"]))
    assert "Sold" in sold["text"], sold["text"]
    await position.arefresh_from_db()
    assert position.remaining_amount_raw == held - 10**bonk.decimals
    # A sale worth its fee goes ahead without a question (confirm_trades is off).
    assert "Sold" in (await chat.final(await chat.say(f"/sell {bonk.mint} all")))["text"]
