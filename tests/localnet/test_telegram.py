"""A bare python-telegram-bot Application against the Bot API stand-in, in polling and in webhook mode."""

import asyncio
import socket

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler


def _application(telegram):
    async def start(update: Update, context) -> None:
        await update.message.reply_text("hello", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Press", callback_data="pressed")]]))

    async def pressed(update: Update, context) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"you pressed {update.callback_query.data}")

    application = (ApplicationBuilder().token(telegram.token).base_url(telegram.base_url)
                   .base_file_url(telegram.base_file_url).build())
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(pressed))
    return application


async def _converse(telegram, user_id: int) -> None:
    await telegram.send_text(user_id, "/start")
    hello = await telegram.next_reply(user_id)
    assert hello["text"] == "hello" and hello["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "pressed"
    await telegram.press(user_id, hello, "pressed")
    edited = await telegram.next_reply(user_id)
    assert edited["method"] == "editMessageText" and edited["text"] == "you pressed pressed"
    assert "answerCallbackQuery" in [method for method, _ in telegram.calls]


async def test_polling_bot_answers_start_and_a_button(telegram):
    application = _application(telegram)
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        await _converse(telegram, 501)
        await application.updater.stop()
        await application.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_bot_answers_and_a_wrong_secret_is_rejected(telegram):
    application = _application(telegram)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"
    async with application:
        await application.start()
        await application.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook", webhook_url=url,
                                                secret_token="right-secret")
        assert telegram.webhook == {"url": url, "secret_token": "right-secret"}
        await _converse(telegram, 502)
        async with httpx.AsyncClient() as http:
            wrong = await http.post(url, json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
        assert wrong.status_code == 403
        await application.updater.stop()
        await application.stop()


async def test_get_updates_conflicts_while_a_webhook_is_set_and_unknown_tokens_are_refused(telegram):
    async with httpx.AsyncClient(base_url=telegram.url) as http:
        assert (await http.post(f"/bot{telegram.token}/setWebhook", data={"url": "http://127.0.0.1:9/x"})).json()["ok"]
        conflict = await http.post(f"/bot{telegram.token}/getUpdates")
        assert conflict.status_code == 409
        await http.post(f"/bot{telegram.token}/deleteWebhook")
        assert (await http.post("/bot1:wrong/getMe")).status_code == 401


async def test_429_carries_retry_after_like_telegram(telegram):
    telegram.faults.fail_next(1, status=429, retry_after=3)
    async with httpx.AsyncClient(base_url=telegram.url) as http:
        body = (await http.post(f"/bot{telegram.token}/getMe")).json()
    assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                    "parameters": {"retry_after": 3}}


async def test_next_reply_times_out_with_what_was_recorded(telegram):
    with pytest.raises(TimeoutError, match="no new reply"):
        await telegram.next_reply(999, timeout=0.1)
    await asyncio.sleep(0)
