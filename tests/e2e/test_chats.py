"""Telegram's own behaviour, through the real bot (issue 14): groups, supergroups and channels the bot was added to,
edited commands, button answers Telegram refuses, stickers and photos, users without a username.

Each attack is performed as Telegram would deliver it and must fail: nothing posted but one line, nothing moved,
an audit row."""

from __future__ import annotations

import itertools
import logging

import pytest

from custody.models import AuditEvent, SecondFactor
from positions.models import Trade
from telegrambot import texts
from tests.e2e.conftest import buttons
from wallets.models import UserWallet, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
_groups = itertools.count(-1_009_100_000, -1)
GROUP_COMMANDS = ["/exportkey", "/2fa on", "/start", "/wallet", "/buy {mint} 0.01", "/withdraw {destination} 0.1"]


async def _started(chat, localnet, *, sol: int = 5) -> UserWallet:
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    localnet.chain.airdrop(wallet.public_key, sol * SOL)
    return wallet


def _said_by_bot(telegram, chat_id: int) -> list[str]:
    return [m.get("text", "") for m in telegram.messages(chat_id) if m.get("from", {}).get("is_bot")]


def _refusals(chat_id: int):
    return AuditEvent.objects.filter(action=AuditEvent.Action.REFUSED_OUTSIDE_PRIVATE_CHAT, detail__chat_id=chat_id)


@pytest.mark.parametrize("supergroup", [False, True], ids=["group", "supergroup"])
@pytest.mark.parametrize("command", GROUP_COMMANDS, ids=lambda c: c.split()[0])
async def test_a_command_in_a_group_gets_one_line_and_touches_nothing(bot, chat_factory, localnet, telegram, handled,
                                                                      command, supergroup):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    text = command.format(mint=localnet.token("BONK").mint, destination=localnet.funded_keypair(sol=0).pubkey())
    group = next(_groups)
    balance = localnet.chain.sol_balance(wallet.public_key)
    private_before, calls = len(telegram.messages(chat.user_id)), len(telegram.calls)
    update_id = await telegram.send_group_text(group, chat.user_id, text, supergroup=supergroup)
    await handled.wait(update_id)
    assert _said_by_bot(telegram, group) == [texts.PRIVATE_ONLY]
    sent = [params for method, params in telegram.calls[calls:] if method.startswith(("send", "edit"))]
    assert [str(params["chat_id"]) for params in sent] == [str(group)]  # nothing to the user's private chat
    assert len(telegram.messages(chat.user_id)) == private_before
    assert localnet.chain.sol_balance(wallet.public_key) == balance
    assert not await Trade.objects.filter(position__user=wallet).aexists()
    assert not await Withdrawal.objects.filter(user=wallet).aexists()
    assert not await SecondFactor.objects.filter(user=wallet).aexists()
    event = await _refusals(group).aget()
    assert event.user_id == wallet.pk and event.detail["used"] == text.split()[0]
    assert event.detail["chat_type"] == ("supergroup" if supergroup else "group")


async def test_start_in_a_group_creates_no_wallet_and_a_second_command_gets_no_second_line(bot, telegram, handled):
    group = next(_groups)
    first = await telegram.send_group_text(group, 850_001, "/start@localnet_bot", supergroup=True)
    second = await telegram.send_group_text(group, 850_002, "/wallet")
    await handled.wait(first)
    await handled.wait(second)
    assert _said_by_bot(telegram, group) == [texts.PRIVATE_ONLY]  # at most one line per group at a time
    assert not await UserWallet.objects.filter(telegram_user_id__in=[850_001, 850_002]).aexists()
    assert [e.detail["used"] async for e in _refusals(group).order_by("id")] == ["/start", "/wallet"]


async def test_plain_talk_in_a_group_is_not_answered(bot, telegram, handled):
    group = next(_groups)
    update_id = await telegram.send_group_text(group, 850_003, "gm everyone, what's the price of BONK?")
    await handled.wait(update_id)
    assert _said_by_bot(telegram, group) == []
    assert not await _refusals(group).aexists()


@pytest.mark.parametrize("supergroup", [False, True], ids=["group", "supergroup"])
async def test_a_button_pressed_in_a_group_is_refused_in_its_answer_only(bot, chat_factory, localnet, telegram,
                                                                         handled, supergroup):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    group = next(_groups)
    await handled.wait(await telegram.send_group_text(group, chat.user_id, "/start", supergroup=supergroup))
    line = telegram.messages(group)[-1]
    calls = len(telegram.calls)
    for data in ("m:wal", "m:pos", f"b:{localnet.token('BONK').mint}:100000000"):
        await handled.wait(await telegram.press(chat.user_id, line, data, forge=True))
    answers = [params for method, params in telegram.calls[calls:] if method == "answerCallbackQuery"]
    assert [a.get("text") for a in answers] == [texts.PRIVATE_ONLY] * 3
    assert not [method for method, _ in telegram.calls[calls:] if method.startswith(("send", "edit"))]
    assert _said_by_bot(telegram, group) == [texts.PRIVATE_ONLY]
    assert not await Trade.objects.filter(position__user=wallet).aexists()
    assert await _refusals(group).filter(detail__used__startswith="button").acount() == 3


async def test_a_button_pressed_by_someone_else_than_the_chats_owner_is_refused(bot, chat_factory, localnet,
                                                                                telegram, handled):
    victim, attacker = chat_factory(), chat_factory()
    await _started(victim, localnet)
    menu = telegram.messages(victim.user_id)[-1]
    calls = len(telegram.calls)
    await handled.wait(await telegram.press(attacker.user_id, menu, "m:wal", forge=True))
    assert [p.get("text") for m, p in telegram.calls[calls:] if m == "answerCallbackQuery"] == [texts.PRIVATE_ONLY]
    assert not [m for m, _ in telegram.calls[calls:] if m.startswith(("send", "edit"))]


async def test_channel_posts_and_their_edits_are_ignored_cleanly(bot, telegram, handled, caplog):
    channel = next(_groups)
    caplog.set_level(logging.WARNING)
    for text in ("/start", "/exportkey", "a new token: BONK to the moon"):
        await handled.wait(await telegram.post_to_channel(channel, text))
    await handled.wait(await telegram.edit_text(channel, "/buy"))
    assert _said_by_bot(telegram, channel) == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.name.startswith("telegrambot")]
    assert await _refusals(channel).acount() == 2  # the two new commands; an edit never counts as a command
    assert not await UserWallet.objects.filter(telegram_user_id=channel).aexists()


async def test_an_edited_buy_does_not_buy_again(bot, chat_factory, localnet, telegram, handled):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    mint = localnet.token("BONK").mint
    bought = await chat.final(await chat.say(f"/buy {mint} 0.01"))
    assert bought["text"].startswith("✅"), bought["text"]
    balance = localnet.chain.sol_balance(wallet.public_key)
    update_id = await telegram.edit_text(chat.user_id, f"/buy {mint} 0.02")
    await handled.wait(update_id)
    assert (await telegram.next_reply(chat.user_id))["text"] == texts.EDITS_NOT_ACTED
    assert await Trade.objects.filter(position__user=wallet).acount() == 1
    assert localnet.chain.sol_balance(wallet.public_key) == balance


async def test_an_update_delivered_twice_acts_once(bot, chat_factory, localnet, telegram, handled):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    telegram.deliver_twice = True
    update_id = await telegram.send_text(chat.user_id, f"/buy {localnet.token('BONK').mint} 0.01")
    await handled.wait(update_id, times=2)
    await chat.final(await telegram.next_reply(chat.user_id, timeout=20))
    assert await Trade.objects.filter(position__user=wallet).acount() == 1
    said = _said_by_bot(telegram, chat.user_id)
    assert not [text for text in said if texts.TRADE_IN_PROGRESS in text], said  # the copy was never handled


@pytest.mark.parametrize("knob", ["late", "failing"])
async def test_a_button_whose_answer_telegram_refuses_still_acts_and_still_refuses(bot, chat_factory, localnet,
                                                                                   telegram, knob):
    chat = chat_factory()
    wallet = await _started(chat, localnet)
    menu = telegram.messages(chat.user_id)[-1]
    if knob == "late":
        telegram.late_callback_seconds = 0  # as if the bot had been down: every answer is too old
    else:
        telegram.fail_callback_answers = True
    shown = await chat.press(menu, buttons(menu)["Wallet"])
    assert wallet.public_key in shown["text"] and texts.SERVICE_PROBLEM not in shown["text"]
    refused = await chat.press(menu, "ok:AAAAAAAA", forge=True)
    assert refused["text"].endswith(texts.NOT_YOURS)
    assert [m for m, _ in telegram.calls].count("answerCallbackQuery") >= 2


async def test_stickers_photos_and_users_without_a_username_get_a_clear_answer(bot, telegram, handled):
    user_id = 850_010
    await telegram.send_text(user_id, "/start", bare=True)
    welcome = await telegram.next_reply(user_id, timeout=20)
    wallet = await UserWallet.objects.aget(telegram_user_id=user_id)
    assert wallet.public_key in welcome["text"] and wallet.telegram_username == ""
    await telegram.send_sticker(user_id)
    assert (await telegram.next_reply(user_id))["text"] == texts.NOT_TEXT
    await telegram.send_photo(user_id, caption="/exportkey")  # a caption is never a command
    assert (await telegram.next_reply(user_id))["text"] == texts.NOT_TEXT
    assert not await AuditEvent.objects.filter(action=AuditEvent.Action.KEY_EXPORTED).aexists()


INVISIBLE = ["\u200b", "\u200f", "\u200e", "\u2060", "\ufeff", "\u202e", "\u00ad"]


@pytest.mark.parametrize("mark", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
async def test_a_pasted_mint_with_an_invisible_character_reads_as_the_mint(bot, chat_factory, localnet, mark):
    chat = chat_factory()
    mint = localnet.token("BONK").mint
    card = await chat.say(f"{mark}{mint[:10]}{mark}{mint[10:]}{mark}")
    assert mint in card["text"] and texts.FREE_TEXT not in card["text"]


async def test_a_buy_with_invisible_characters_in_the_mint_and_the_amount_goes_through(bot, chat_factory, localnet):
    chat = chat_factory()
    await chat.say("/start")
    wallet = await UserWallet.objects.aget(telegram_user_id=chat.user_id)
    localnet.chain.airdrop(wallet.public_key, 10**9)
    mint = localnet.token("BONK").mint
    bought = await chat.final(await chat.say(f"/buy \u200f{mint}\u200b 0.\u200b1 \u2060"))
    assert "Bought" in bought["text"], bought["text"]


async def test_a_photo_captioned_with_a_mint_shows_the_token_and_a_bare_photo_gets_one_line(bot, chat_factory,
                                                                                          localnet, telegram):
    chat = chat_factory()
    mint = localnet.token("BONK").mint
    await telegram.send_photo(chat.user_id, caption=f"\u200e{mint} ")
    card = await telegram.next_reply(chat.user_id)
    assert mint in card["text"] and card["text"] != texts.NOT_TEXT
    await telegram.send_photo(chat.user_id)
    assert (await telegram.next_reply(chat.user_id))["text"] == texts.NOT_TEXT
    await telegram.send_photo(chat.user_id, caption="look at this")
    assert (await telegram.next_reply(chat.user_id))["text"] == texts.NOT_TEXT
