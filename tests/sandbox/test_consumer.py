"""The chat page's websocket, end to end with the real bot polling localnet's stand-in: what the page sends reaches
the bot as a person's message or button press, and everything the bot does in the chat comes back live."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.urls import path

from sandbox.consumers import CHAT_SALT, WELCOME_AIRDROP_SOL, ChatConsumer
from wallets.models import UserWallet

_user_ids = itertools.count(870_000)
pytestmark = pytest.mark.django_db(transaction=True)


class Page:
    """What the page's JavaScript does with the socket: send, and read events until one matches."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.seen: list[dict] = []

    async def send(self, **payload) -> None:
        await self.communicator.send_json_to(payload)

    async def until(self, predicate, *, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            event = await self.communicator.receive_json_from(timeout=max(deadline - time.monotonic(), 0.01))
            self.seen.append(event)
            if predicate(event):
                return event


def bot_says(words: str):
    return lambda e: e["type"] in ("message", "edit") and e["from_bot"] and words in e["html"]


@pytest.fixture
async def page(bot, bot_config):
    application = URLRouter([path("sandbox/ws/", ChatConsumer.as_asgi(config=bot_config))])
    user_id = next(_user_ids)
    communicator = WebsocketCommunicator(application, f"/sandbox/ws/?chat={signing.dumps(user_id, salt=CHAT_SALT)}")
    connected, code = await communicator.connect()
    assert connected, code
    page = Page(communicator)
    page.user_id = user_id
    yield page
    await communicator.disconnect()


async def test_a_forged_chat_is_refused(bot_config):
    application = URLRouter([path("sandbox/ws/", ChatConsumer.as_asgi(config=bot_config))])
    communicator = WebsocketCommunicator(application, "/sandbox/ws/?chat=1000:forged")
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_start_gives_a_funded_wallet_and_a_menu(page, localnet):
    await page.send(type="say", text="/start")
    mine = await page.until(lambda e: e["type"] == "message" and not e["from_bot"])
    assert mine["html"] == "/start"
    welcome = await page.until(lambda e: e["type"] == "message" and e["from_bot"] and e["buttons"])
    labels = {b["text"] for row in welcome["buttons"] for b in row}
    assert {"Buy", "Wallet", "Positions"} <= labels
    await page.until(lambda e: e["type"] == "notice" and "airdropped" in e["text"])
    wallet = await UserWallet.objects.aget(telegram_user_id=page.user_id)
    assert localnet.chain.sol_balance(wallet.public_key) == WELCOME_AIRDROP_SOL * 10**9
    def has_buy(event):  # the bot sets its menu as it starts, maybe after the page connected
        return event["type"] == "commands" and any(c["command"] == "buy" for c in event["commands"])

    assert any(has_buy(e) for e in page.seen) or await page.until(has_buy)


async def test_pasting_a_mint_and_pressing_buy_buys(page, localnet):
    await page.send(type="say", text="/start")
    await page.until(lambda e: e["type"] == "notice" and "airdropped" in e["text"])
    await page.send(type="say", text=localnet.token("WIF").mint)
    card = await page.until(lambda e: e["type"] == "message" and e["from_bot"] and "You hold" in e["html"])
    data = next(b["data"] for row in card["buttons"] for b in row if b["text"] == "Buy 0.1 SOL")
    await page.send(type="press", message_id=card["message_id"], data=data)
    bought = await page.until(bot_says("Bought"), timeout=60)
    assert "<b>" in bought["html"] or "<code>" in bought["html"]  # Telegram HTML, drawn as such
    wallet = await UserWallet.objects.aget(telegram_user_id=page.user_id)
    assert localnet.chain.token_balance(wallet.public_key, localnet.token("WIF").mint) > 0


async def test_a_button_no_longer_offered_is_refused_with_a_notice(page):
    await page.send(type="say", text="/start")
    welcome = await page.until(lambda e: e["type"] == "message" and e["from_bot"] and e["buttons"])
    await page.send(type="press", message_id=welcome["message_id"], data="forged:data")
    notice = await page.until(lambda e: e["type"] == "notice" and "Not sent" in e["text"])
    assert "no longer on the message" in notice["text"]


async def test_deleted_messages_leave_the_page(page, bot):
    await page.send(type="say", text="/start")
    await page.until(lambda e: e["type"] == "message" and e["from_bot"])
    sent = await bot.application.bot.send_message(page.user_id, "<i>going</i>", parse_mode="HTML")
    shown = await page.until(lambda e: e["type"] == "message" and e.get("message_id") == sent.message_id)
    assert shown["html"].startswith("<i>going</i>")
    await bot.application.bot.edit_message_text("<b>gone soon</b>", chat_id=page.user_id,
                                                message_id=sent.message_id, parse_mode="HTML")
    edited = await page.until(lambda e: e["type"] == "edit" and e["message_id"] == sent.message_id)
    assert edited["html"] == "<b>gone soon</b>" and edited["edited"]
    await bot.application.bot.delete_message(page.user_id, sent.message_id)
    await page.until(lambda e: e["type"] == "delete" and e["message_id"] == sent.message_id)
    await asyncio.sleep(0)


async def test_a_stop_loss_fires_on_the_page_when_the_price_is_rugged(page, localnet):
    from localnet.price_walk import PriceWalk

    token = localnet.create_token(f"SBX{page.user_id}", decimals=6, pool_sol_lamports=500 * 10**9,
                                  pool_tokens_raw=10**12)  # this test's own: its rug moves no other test's price
    await page.send(type="say", text="/start")
    await page.until(lambda e: e["type"] == "notice" and "airdropped" in e["text"])
    await page.send(type="say", text=f"/buy {token.mint} 0.5")
    await page.until(bot_says("Bought"), timeout=60)
    await page.send(type="say", text=f"/sl {token.mint} 10%")
    await page.until(lambda e: e["type"] == "message" and e["from_bot"] and "10%" in e["html"])
    walk = PriceWalk(localnet, symbols=(token.symbol,), seed=1)
    while localnet.pool(token.symbol)[0] > 400 * 10**9:  # each rug dumps 20-60% of the pool's tokens
        walk.rug(token.symbol)
    fired = await page.until(bot_says("Stop loss"), timeout=60)
    assert "Sold" in fired["html"]
