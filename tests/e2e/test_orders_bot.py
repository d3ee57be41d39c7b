"""/limit, /trail, /dca and /orders through the real bot and the Bot API stand-in."""

from __future__ import annotations

import itertools

import pytest

from positions.models import Order
from telegrambot import texts
from tests.e2e.conftest import buttons
from tests.e2e.test_bot import _started

pytestmark = pytest.mark.django_db(transaction=True)
SOL = 10**9
_names = itertools.count()


def fresh_token(localnet):
    return localnet.create_token(f"OB{next(_names)}", decimals=6, pool_sol_lamports=500 * SOL,
                                 pool_tokens_raw=10**12)


@pytest.mark.parametrize(("command", "expected"), [
    ("/limit", "Usage:"),
    ("/limit {mint} hold 1 at 0.1", "neither buy nor sell"),
    ("/limit {mint} buy 1 at 2x", "A multiple (like 2x) is for sells"),
    ("/limit {mint} sell all at -20%", "A percentage trigger is for buys"),
    ("/limit {mint} buy 1 at cheap", "The price is not a plain number"),
    ("/limit {mint} buy 1 at mcap lots", "The market cap is not a plain number"),
    ("/limit {mint} buy 1 at -120%", "The fall must be between"),
    ("/limit {mint} buy 1 at 0.1 for ever", "The expiry has no unit"),
    ("/limit {mint} sell 150% at 2x", "100%"),
    ("/limit {mint} buy 0 at 0.1", "more than zero"),
    ("/trail {mint}", "Usage: /trail"),
    ("/trail {mint} 150%", "The trailing distance must be between"),
    ("/trail {mint} 15% from nowhere", "The start price is not a plain number"),
    ("/dca {mint} 1 10 each 1h", "Usage: /dca"),
    ("/dca {mint} sell 50% 4 every 1h", "A DCA sell sells your whole position in parts"),
    ("/dca {mint} sell all 1 every 1h", "The number of parts must be a whole number from 2"),
    ("/dca {mint} 1 1 every 1h", "The number of parts must be a whole number from 2"),
    ("/dca {mint} 1 10 every 10s", "The interval has no unit"),
    ("/dca {mint} 1 10 every 90d", "The interval must be between"),
])
async def test_every_bad_order_command_says_what_was_wrong_and_places_nothing(bot, chat_factory, localnet, command,
                                                                             expected):
    chat = chat_factory()
    await _started(chat, localnet)
    reply = await chat.say(command.format(mint=localnet.token("BONK").mint))
    assert expected in reply["text"]
    assert not await Order.objects.filter(user__telegram_user_id=chat.user_id).aexists()


async def test_a_limit_buy_is_placed_listed_and_cancelled_by_its_owner_only(bot, chat_factory, localnet):
    chat, stranger = chat_factory(), chat_factory()
    await _started(chat, localnet)
    await _started(stranger, localnet)
    token = fresh_token(localnet)
    placed = await chat.say(f"/limit {token.mint} buy 0.2 at mcap 250 for 24h")
    assert "Limit buy placed" in placed["text"] and "mcap 250 (0.00025 SOL/token)" in placed["text"]
    listing = await chat.say("/orders")
    assert "1. <b>Limit buy</b>" in listing["text"] or "1. Limit buy" in listing["text"]
    cancel = buttons(listing)["Cancel #1"]
    forged = await stranger.press(await stranger.say("/start"), cancel, forge=True)
    assert forged["text"].endswith(texts.NOT_YOURS)
    assert (await Order.objects.aget(user__telegram_user_id=chat.user_id)).status == "active"
    done = await chat.press(listing, cancel)
    assert "Cancelled" in done["text"]
    again = await chat.press(listing, cancel)
    assert "already cancelled" in again["text"]
    assert texts.NO_ORDERS in (await chat.say("/orders"))["text"]


async def test_a_trigger_already_met_is_refused(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    token = fresh_token(localnet)  # 0.0005 SOL per token now
    reply = await chat.say(f"/limit {token.mint} buy 0.2 at 0.001")
    assert "already past that trigger" in reply["text"]


async def test_trail_and_dca_are_placed_and_listed(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    token = fresh_token(localnet)
    await chat.final(await chat.say(f"/buy {token.mint} 0.2"))
    assert "Trailing stop placed" in (await chat.say(f"/trail {token.mint} 15%"))["text"]
    reply = await chat.say(f"/dca {token.mint} 0.3 3 every 1h")
    assert "DCA buy placed" in reply["text"] and "3 parts" in reply["text"]
    listing = (await chat.say("/orders"))["text"]
    assert "Trailing stop" in listing and "DCA buy" in listing


async def test_the_bot_fires_a_limit_sell_and_tells_the_trader(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    token = fresh_token(localnet)
    await chat.final(await chat.say(f"/buy {token.mint} 0.5"))
    assert "Limit sell placed" in (await chat.say(f"/limit {token.mint} sell all at 2x"))["text"]
    localnet.swap_as(localnet.funded_keypair(sol=600), localnet.sol_mint, token.mint, 500 * SOL)
    told = await chat.telegram.wait_for(chat.user_id, lambda r: "Limit sell fired" in r["text"], timeout=20)
    assert "Sold" in told["text"] and "2x" in told["text"]
    assert (await Order.objects.aget(user__telegram_user_id=chat.user_id)).status == "filled"


async def test_the_order_commands_are_registered(bot, telegram):
    names = {c["command"] for c in telegram.commands}
    assert {"limit", "trail", "dca", "orders"} <= names


async def test_the_token_card_asks_for_an_order_and_places_it(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    token = fresh_token(localnet)
    card = await chat.say(token.mint)
    assert {"Limit", "Trailing", "DCA"} <= set(buttons(card))
    asked = await chat.press(card, buttons(card)["Limit"])
    assert "buy 0.5 at -20%" in asked["text"]
    placed = await chat.say("buy 0.2 at -20%")
    assert "Limit buy placed" in placed["text"]
    await chat.press(card, buttons(card)["DCA"])
    refused = await chat.say("1 1 every 1h")
    assert "The number of parts must be a whole number from 2" in refused["text"]
    await chat.press(card, buttons(card)["DCA"])
    assert "DCA buy placed" in (await chat.say("0.3 3 every 1h"))["text"]
    assert await Order.objects.filter(user__telegram_user_id=chat.user_id, status="active").acount() == 2


async def test_a_forged_order_button_is_refused(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    menu = await chat.say("/start")
    reply = await chat.press(menu, "or:x:" + localnet.token("BONK").mint, forge=True)
    assert texts.EXPIRED_BUTTON in reply["text"]


async def test_a_positions_orders_button_offers_the_orders_for_its_token_and_only_to_its_owner(bot, chat_factory,
                                                                                              localnet):
    chat, stranger = chat_factory(), chat_factory()
    await _started(chat, localnet)
    await _started(stranger, localnet)
    token = fresh_token(localnet)
    bought = await chat.final(await chat.say(f"/buy {token.mint} 0.1"))
    assert "Bought" in bought["text"]
    listing = await chat.say("/positions")
    assert "#1 Orders" in buttons(listing)
    kinds = await chat.press(listing, buttons(listing)["#1 Orders"])
    assert token.mint in kinds["text"] and {"Limit", "Trailing", "DCA"} == set(buttons(kinds))
    asked = await chat.press(kinds, buttons(kinds)["Trailing"])
    assert "highest" in asked["text"]
    placed = await chat.say("15%")
    assert "Trailing stop placed" in placed["text"] or "trailing" in placed["text"].lower()
    menu = await stranger.say("/start")
    refused = await stranger.press(menu, buttons(listing)["#1 Orders"], forge=True)  # someone else's position
    assert texts.NOT_YOURS in refused["text"]


async def test_a_dca_sell_is_placed_listed_and_refused_without_a_position(bot, chat_factory, localnet):
    chat = chat_factory()
    await _started(chat, localnet)
    token = fresh_token(localnet)
    refused = await chat.say(f"/dca {token.mint} sell all 4 every 1h")
    assert "You have no open position" in refused["text"] or "no open position" in refused["text"].lower()
    assert "Bought" in (await chat.final(await chat.say(f"/buy {token.mint} 0.1")))["text"]
    placed = await chat.say(f"/dca {token.mint} sell all 4 every 1h")
    assert "DCA sell placed" in placed["text"] and "in 4 parts, every 1 h" in placed["text"]
    assert "DCA sell" in (await chat.say("/orders"))["text"]
