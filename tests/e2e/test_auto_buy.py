"""Auto-buy on paste (issue 17): with an amount set, a pasted mint address buys at once through the /buy path
(confirmation, code, limits, screening), instead of showing the token card. Through the real bot and localnet."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from custody import totp
from custody.models import PendingSettingChange
from positions.models import Position, Trade
from telegrambot import texts
from tests.e2e.conftest import buttons
from tests.e2e.test_custody import _enable_2fa, _started
from tests.e2e.test_trade_guards import _set
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9


async def _auto_buy(chat, text: str) -> tuple[dict, dict]:
    """Paste ``text``: the auto-buy notice, then the buy's own first answer (progress, question or refusal)."""
    notice = await chat.say(text)
    assert notice["text"].startswith("⚡ Auto-buy"), notice["text"]
    return notice, await chat.telegram.next_reply(chat.user_id)


async def test_a_paste_without_auto_buy_shows_the_card(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    card = await chat.say(localnet.token("BONK").mint)
    assert "You hold: 0" in card["text"] and "Buy 0.1 SOL" in buttons(card)
    assert not await Trade.objects.filter(user=wallet).aexists()


async def test_a_paste_with_auto_buy_buys_that_amount_and_the_ledger_matches_the_chain(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    assert "saved" in (await _set(chat, "/set autobuy 0.2"))["text"]
    bonk = localnet.token("BONK")
    before = localnet.chain.sol_balance(wallet.public_key)

    notice, progress = await _auto_buy(chat, bonk.mint)
    assert "0.2 SOL" in notice["text"] and "/set autobuy off" in notice["text"]
    done = await chat.final(progress)
    assert "Bought" in done["text"], done["text"]

    trade = await Trade.objects.aget(user=wallet, side="buy")
    position = await Position.objects.aget(user=wallet, token_mint=bonk.mint, is_open=True)
    assert trade.status == "confirmed" and trade.lamports_in == SOL // 5
    assert position.entry_cost_lamports == SOL // 5 + trade.fee_lamports
    assert position.remaining_amount_raw == trade.amount_out_raw == localnet.chain.token_balance(wallet.public_key,
                                                                                                  bonk.mint)
    assert localnet.chain.sol_balance(wallet.public_key) == before + trade.sol_change_lamports

    # A photo whose caption is the mint (a screenshot, often forwarded) shows the card: only a pasted mint buys.
    await chat.telegram.send_photo(chat.user_id, caption=bonk.mint)
    card = await chat.telegram.next_reply(chat.user_id)
    assert "Buy 0.1 SOL" in buttons(card)
    assert await Trade.objects.filter(user=wallet).acount() == 1

    # Off: the card again, nothing bought.
    assert "saved" in (await _set(chat, "/set autobuy off"))["text"]
    card = await chat.say(bonk.mint)
    assert "Buy 0.1 SOL" in buttons(card)
    assert await Trade.objects.filter(user=wallet).acount() == 1


async def test_an_unknown_or_refused_token_pasted_gets_the_same_refusal_as_a_buy_and_buys_nothing(bot, chat_factory,
                                                                                                   localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    await _set(chat, "/set autobuy 0.1")
    nowhere = str(localnet.funded_keypair(sol=1).pubkey())  # a wallet, not a mint
    frozen = localnet.create_token("FRZAB", decimals=6, pool_sol_lamports=50 * SOL, pool_tokens_raw=10**15,
                                   freeze_authority=True)
    for mint in (nowhere, frozen.mint):
        _, answer = await _auto_buy(chat, mint)
        pasted = await chat.final(answer)
        typed = await chat.final(await chat.say(f"/buy {mint} 0.1"))
        assert pasted["text"] == typed["text"] and "Bought" not in pasted["text"], pasted["text"]
    assert not await Trade.objects.filter(user=wallet).aexists()
    assert not await Position.objects.filter(user=wallet).aexists()


async def test_with_confirm_trades_an_auto_buy_still_asks_first(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    await _set(chat, "/set confirm on")
    await _set(chat, "/set autobuy 0.1")
    _, question = await _auto_buy(chat, localnet.token("BONK").mint)
    assert "0.1 SOL" in question["text"] and "?" in question["text"] and "✅ Buy" in buttons(question)
    assert not await Trade.objects.filter(user=wallet).aexists()
    done = await chat.final(await chat.press(question, buttons(question)["✅ Buy"]))
    assert "Bought" in done["text"]
    assert (await Trade.objects.aget(user=wallet)).lamports_in == SOL // 10


async def test_auto_buy_above_the_max_trade_is_refused_when_set_and_when_pasted(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    await _set(chat, "/set maxtrade 0.5")
    refused = await _set(chat, "/set autobuy 0.6")
    assert "Auto-buy cannot be above your maximum trade size of 0.5 SOL" in refused["text"], refused["text"]
    assert (await UserSettings.objects.aget(user=wallet)).auto_buy_lamports is None
    assert "saved" in (await _set(chat, "/set autobuy 0.5"))["text"]
    await _set(chat, "/set maxtrade 0.3")  # lowered afterwards: the buy's own size check refuses the paste
    _, answer = await _auto_buy(chat, localnet.token("BONK").mint)
    assert "more than your maximum trade size of 0.3 SOL" in (await chat.final(answer))["text"]
    assert not await Trade.objects.filter(user=wallet).aexists()


@pytest.mark.parametrize(("command", "expected"), [
    ("/set autobuy 0", "Auto-buy: the amount must be more than zero. Type SOL as a plain number, like 0.1, or off."),
    ("/set autobuy -1", "Auto-buy: the amount must not be negative"),
    ("/set autobuy lots", "Auto-buy: the amount is not a plain number"),
    ("/set auto_buy 1e400", "Auto-buy: the amount is not a plain number"),
])
async def test_a_bad_auto_buy_value_gets_a_specific_answer_and_changes_nothing(bot, chat_factory, localnet, command,
                                                                               expected):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=0)
    answer = await chat.say(command)
    assert expected in answer["text"], answer["text"]
    assert (await UserSettings.objects.aget(user=wallet)).auto_buy_lamports is None


async def test_the_settings_screen_shows_auto_buy_and_offers_its_button(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet, sol=0)
    screen = await chat.say("/settings")
    assert "Auto-buy on paste: off" in screen["text"] and "Auto-buy" in buttons(screen)
    question = await chat.press(screen, buttons(screen)["Auto-buy"])
    assert "pasted token address buys at once" in question["text"]
    assert "saved" in (await chat.say("0.15"))["text"]
    assert "Auto-buy on paste: 0.15 SOL" in (await chat.telegram.next_reply(chat.user_id))["text"]


async def test_turning_auto_buy_on_or_up_under_protection_waits_and_off_is_at_once(bot, clock, chat_factory,
                                                                                  localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=10)
    assert "now wait" in (await chat.say("/withdrawdelay 5"))["text"]  # protection on
    mint = localnet.token("BONK").mint

    answer = await _set(chat, "/set autobuy 0.1")
    assert "waits for safety" in answer["text"], answer["text"]
    assert (await UserSettings.objects.aget(user=wallet)).auto_buy_lamports is None
    assert "Buy 0.1 SOL" in buttons(await chat.say(mint))  # meanwhile a paste shows the card
    clock.advance(hours=24, seconds=1)
    await bot.apply_due_settings()
    await chat.telegram.wait_for(chat.user_id, lambda m: "Now in effect" in m.get("text", ""))
    assert (await UserSettings.objects.aget(user=wallet)).auto_buy_lamports == SOL // 10

    assert "waits for safety" in (await _set(chat, "/set autobuy 0.3"))["text"]  # larger: waits
    assert "saved" in (await _set(chat, "/set autobuy 0.05"))["text"]  # smaller: at once, replacing the wait
    assert not await PendingSettingChange.objects.filter(user=wallet).aexists()
    assert "saved" in (await _set(chat, "/set autobuy off"))["text"]  # off: at once
    assert (await UserSettings.objects.aget(user=wallet)).auto_buy_lamports is None


async def test_an_auto_buy_above_the_code_level_asks_for_the_code(bot, clock, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    await _set(chat, "/set autobuy 0.3")  # before any protection: at once
    secret = await _enable_2fa(chat, clock)
    assert "saved" in (await _set(chat, "/set buycode 0.2"))["text"]  # tightening: at once
    mint = localnet.token("BONK").mint

    _, asked = await _auto_buy(chat, mint)
    assert asked["text"] == texts.ASK_BUY_CODE
    assert not await Trade.objects.filter(user=wallet).aexists()
    done = await chat.final(await chat.say(totp.code_at(secret, clock.now())))
    assert "Bought" in done["text"]
    assert (await Trade.objects.aget(user=wallet)).lamports_in == 3 * SOL // 10


async def test_the_buys_kill_switch_pauses_an_auto_buy_as_it_does_a_buy(bot, chat_factory, localnet):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    await _set(chat, "/set autobuy 0.1")
    mint = localnet.token("BONK").mint
    await sync_to_async(call_command)("killswitch", "on", "buys", "--reason", "drill", "--user", str(chat.user_id))
    _, answer = await _auto_buy(chat, mint)
    paused = (await chat.final(answer))["text"]
    assert "paused" in paused and paused == (await chat.final(await chat.say(f"/buy {mint} 0.1")))["text"]
    assert not await Trade.objects.filter(user=wallet).aexists()
    await sync_to_async(call_command)("killswitch", "off", "buys", "--user", str(chat.user_id))


async def test_a_paste_delivered_twice_buys_once_and_an_edit_into_a_mint_buys_nothing(bot, chat_factory, localnet,
                                                                                      telegram, handled):
    chat = chat_factory()
    wallet = await _started(chat, localnet, sol=5)
    await _set(chat, "/set autobuy 0.1")
    mint = localnet.token("BONK").mint
    telegram.deliver_twice = True
    update_id = await telegram.send_text(chat.user_id, mint)
    await handled.wait(update_id, times=2)
    assert (await telegram.next_reply(chat.user_id))["text"].startswith("⚡ Auto-buy")
    assert "Bought" in (await chat.final(await telegram.next_reply(chat.user_id, timeout=20)))["text"]
    assert await Trade.objects.filter(user=wallet).acount() == 1

    update_id = await telegram.edit_text(chat.user_id, mint)
    await handled.wait(update_id)
    assert (await telegram.next_reply(chat.user_id))["text"] == texts.EDITS_NOT_ACTED
    assert await Trade.objects.filter(user=wallet).acount() == 1
