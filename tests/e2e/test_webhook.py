"""Webhook mode: the stand-in posts updates to the project's ASGI app, which checks the secret token."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio
from django.test import AsyncClient
from telegram import Update

from positions.models import Trade
from telegrambot import texts, webhook
from telegrambot.runner import BotRunner
from tests.e2e.conftest import Handled
from wallets.models import UserWallet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest_asyncio.fixture
async def webhook_bot(bot_config):
    runner = BotRunner(bot_config, updater=False)
    await runner.application.initialize()
    await runner.application.start()
    webhook.use_application(runner.application)
    yield runner
    webhook.use_application(None)
    await runner.shutdown()


def _update(user_id: int, text: str, *, update_id: int = 1) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "text": text, "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Web"},
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


async def test_right_secret_is_served_and_wrong_or_missing_is_refused(webhook_bot, telegram):
    client = AsyncClient()
    body = json.dumps(_update(830_001, "/start"))
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        refused = await client.post("/telegram/webhook/", body, content_type="application/json", headers=headers)
        assert refused.status_code == 403
    assert not await UserWallet.objects.filter(telegram_user_id=830_001).aexists()
    accepted = await client.post("/telegram/webhook/", body, content_type="application/json",
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret"})
    assert accepted.status_code == 200
    reply = await telegram.next_reply(830_001, timeout=20)
    assert "Welcome" in reply["text"]
    assert await UserWallet.objects.filter(telegram_user_id=830_001).aexists()


async def _post(client: AsyncClient, update: dict) -> int:
    response = await client.post("/telegram/webhook/", json.dumps(update), content_type="application/json",
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret"})
    return response.status_code


async def test_a_buy_delivered_again_by_telegram_buys_once(webhook_bot, telegram, localnet):
    """Telegram retries a webhook delivery it thinks failed: after the first was handled, and at the same time."""
    client, user_id, handled = AsyncClient(), 830_002, Handled(webhook_bot.application)
    assert await _post(client, _update(user_id, "/start", update_id=41)) == 200
    await telegram.wait_for(user_id, lambda m: "Welcome" in m["text"], timeout=20)
    wallet = await UserWallet.objects.aget(telegram_user_id=user_id)
    localnet.chain.airdrop(wallet.public_key, 5 * 10**9)
    buy = _update(user_id, f"/buy {localnet.token('BONK').mint} 0.01", update_id=42)
    assert await _post(client, buy) == 200
    await handled.wait(42)
    assert await _post(client, buy) == 200  # a retry after the first delivery was handled
    await handled.wait(42, times=2)
    buy_again = {**buy, "update_id": 43}
    assert [await _post(client, buy_again), await _post(client, buy_again)] == [200, 200]  # two at once
    await handled.wait(43, times=2)
    assert await Trade.objects.filter(position__user=wallet).acount() == 2  # one per update, not per delivery
    said = [m["text"] for m in telegram.messages(user_id) if m["from"]["is_bot"]]
    assert sum(text.startswith("✅") for text in said) == 2 and not [t for t in said if texts.TRADE_IN_PROGRESS in t]


async def test_register_webhook_sets_url_and_secret(bot_config, telegram):
    url = await BotRunner(bot_config).register_webhook()
    assert telegram.webhook == {"url": url, "secret_token": "test-webhook-secret"}
    assert [c["command"] for c in telegram.commands][:3] == ["start", "buy", "sell"]


async def test_malformed_update_is_a_clean_400(webhook_bot):
    response = await AsyncClient().post("/telegram/webhook/", "not json", content_type="application/json",
                                        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret"})
    assert response.status_code == 400


async def test_two_workers_given_the_same_update_act_once(bot_config, telegram, localnet):
    """Each webhook worker has its own Application; the mark that an update was handled is in the shared cache."""
    workers = [BotRunner(bot_config, updater=False) for _ in range(2)]
    for worker in workers:
        await worker.application.initialize()
        await worker.application.start()
    try:
        user_id = 830_003
        await workers[0].application.process_update(Update.de_json(_update(user_id, "/start", update_id=51),
                                                                   workers[0].application.bot))
        wallet = await UserWallet.objects.aget(telegram_user_id=user_id)
        localnet.chain.airdrop(wallet.public_key, 5 * 10**9)
        buy = _update(user_id, f"/buy {localnet.token('BONK').mint} 0.01", update_id=52)
        await asyncio.gather(*(w.application.process_update(Update.de_json(buy, w.application.bot))
                               for w in workers))
        assert await Trade.objects.filter(position__user=wallet).acount() == 1
        said = [m["text"] for m in telegram.messages(user_id) if m["from"]["is_bot"]]
        # One answer: the copy is dropped, not refused ("an identical trade was sent a moment ago").
        assert [text[:1] for text in said[1:]] == ["✅"], said
    finally:
        for worker in workers:
            await worker.shutdown()
