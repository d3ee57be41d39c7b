"""A bare python-telegram-bot Application against the Bot API stand-in, in polling and in webhook mode."""

import asyncio
import socket

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, TypeHandler

from localnet.telegram import QUERY_TOO_OLD


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


async def _raw_updates(telegram, first_id: int) -> list[dict]:
    async with httpx.AsyncClient(base_url=telegram.url) as http:
        return (await http.post(f"/bot{telegram.token}/getUpdates", data={"offset": first_id})).json()["result"]


async def test_groups_channels_edits_stickers_photos_and_bare_users_arrive_as_telegram_sends_them(telegram):
    first = await telegram.send_group_text(-4001, 601, "/start@localnet_bot")
    await telegram.send_group_text(-1004002, 601, "hello", supergroup=True)
    await telegram.post_to_channel(-1004003, "/buy")
    await telegram.edit_text(-1004003, "/buy again")
    await telegram.send_text(602, "/buy x 0.01", bare=True)
    await telegram.edit_text(602, "/buy x 0.02")
    await telegram.send_sticker(602)
    await telegram.send_photo(602, caption="/exportkey")
    updates = [Update.de_json(raw, None) for raw in await _raw_updates(telegram, first)]
    group, supergroup, channel, channel_edit, bare, edit, sticker, photo = updates
    assert group.message.chat.type == "group" and group.effective_user.id == 601
    assert group.message.entities[0].type == "bot_command" and group.message.entities[0].length == 19
    assert supergroup.message.chat.type == "supergroup" and supergroup.message.text == "hello"
    assert channel.channel_post.chat.type == "channel" and channel.effective_user is None
    assert channel.channel_post.sender_chat.id == -1004003
    assert channel_edit.edited_channel_post.text == "/buy again" and channel_edit.effective_user is None
    assert channel_edit.edited_channel_post.message_id == channel.channel_post.message_id
    assert bare.effective_user.username is None and bare.effective_user.language_code is None
    assert edit.message is None and edit.edited_message.message_id == bare.message.message_id
    assert edit.edited_message.text == "/buy x 0.02" and edit.edited_message.edit_date is not None
    assert sticker.message.sticker.emoji == "👍" and sticker.message.text is None
    assert photo.message.photo and photo.message.caption == "/exportkey" and photo.message.text is None
    assert photo.message.caption_entities[0].type == "bot_command" and not photo.message.entities


async def test_the_bot_replies_into_the_group_it_was_addressed_in(telegram):
    await telegram.send_group_text(-1004010, 603, "/start", supergroup=True)
    async with httpx.AsyncClient(base_url=telegram.url) as http:
        sent = (await http.post(f"/bot{telegram.token}/sendMessage", data={"chat_id": -1004010, "text": "hi"})).json()
    assert sent["result"]["chat"]["type"] == "supergroup"
    assert (await telegram.next_reply(-1004010))["text"] == "hi"


async def _answer(telegram, query_id: str) -> dict:
    async with httpx.AsyncClient(base_url=telegram.url) as http:
        return (await http.post(f"/bot{telegram.token}/answerCallbackQuery",
                                data={"callback_query_id": query_id})).json()


async def _pressed_query_id(telegram, user_id: int) -> str:
    message = {"message_id": 1, "chat": {"id": user_id, "type": "private"}, "date": 0, "text": "x"}
    update_id = await telegram.press(user_id, message, "pressed", forge=True)
    raw = await _raw_updates(telegram, update_id)
    return raw[0]["callback_query"]["id"]


async def test_callback_answers_that_are_late_repeated_unknown_or_failing_are_refused_like_telegram(telegram):
    too_old = {"ok": False, "error_code": 400, "description": QUERY_TOO_OLD}
    query_id = await _pressed_query_id(telegram, 604)
    assert await _answer(telegram, query_id) == {"ok": True, "result": True}
    assert await _answer(telegram, query_id) == too_old  # answered already
    assert await _answer(telegram, "no-such-query") == too_old
    telegram.late_callback_seconds = 0  # every answer comes too late
    assert await _answer(telegram, await _pressed_query_id(telegram, 604)) == too_old
    telegram.late_callback_seconds = None
    telegram.fail_callback_answers = True
    assert await _answer(telegram, await _pressed_query_id(telegram, 604)) == too_old


async def test_an_update_can_be_delivered_twice_by_polling_and_to_a_webhook(telegram):
    telegram.deliver_twice = True
    update_id = await telegram.send_text(605, "/start")
    assert [u["update_id"] for u in await _raw_updates(telegram, update_id)] == [update_id, update_id]
    received: list[int] = []
    application = ApplicationBuilder().token(telegram.token).base_url(telegram.base_url).build()
    application.add_handler(TypeHandler(Update, lambda update, context: _note(received, update)))
    port = _free_port()
    async with application:
        await application.start()
        await application.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                                webhook_url=f"http://127.0.0.1:{port}/hook", secret_token="s")
        sent = await telegram.send_text(605, "/wallet")
        deadline = asyncio.get_running_loop().time() + 10
        while len(received) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await application.updater.stop()
        await application.stop()
    assert received == [sent, sent]


async def _note(received: list[int], update: Update) -> None:
    received.append(update.update_id)
