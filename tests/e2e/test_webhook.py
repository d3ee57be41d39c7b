"""Webhook mode: the stand-in posts updates to the project's ASGI app, which checks the secret token."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from django.test import AsyncClient

from telegrambot import webhook
from telegrambot.runner import BotRunner
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


def _update(user_id: int, text: str) -> dict:
    return {"update_id": 1, "message": {
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


async def test_register_webhook_sets_url_and_secret(bot_config, telegram):
    url = await BotRunner(bot_config).register_webhook()
    assert telegram.webhook == {"url": url, "secret_token": "test-webhook-secret"}
    assert [c["command"] for c in telegram.commands][:3] == ["start", "buy", "sell"]


async def test_malformed_update_is_a_clean_400(webhook_bot):
    response = await AsyncClient().post("/telegram/webhook/", "not json", content_type="application/json",
                                        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret"})
    assert response.status_code == 400
