"""Before any handler: an update acts once, and only when it is a new message or a button press in a private chat
between the bot and the user who sent it.

Anything said in a group, a supergroup or a channel is read by everyone there, so nothing there may touch money,
wallets or secrets: a command or a button used there gets one short line at most, and an audit row. Channel posts
have no user at all and are ignored. An edited message never acts: Telegram sends one whenever someone fixes a typo
in a command already sent, and acting on it would buy (or withdraw) a second time.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from telegram import Chat, Update, User
from telegram.ext import ApplicationHandlerStop, ContextTypes

from custody import audit
from kernel.db import db_call
from telegrambot import texts
from telegrambot.handlers.common import answer_quietly, reply

logger = logging.getLogger(__name__)
# Telegram keeps an update it could not deliver for 24 hours, and retries a webhook delivery within that time.
DELIVERED_TTL_SECONDS = 24 * 60 * 60
# At most one refusal line per group in this time, however many commands its members type.
GROUP_LINE_SECONDS = 60


async def drop_duplicates(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An update delivered twice (a webhook retry after a slow or failed answer, to this worker or another) acts
    once. The mark is shared through Django's cache (Redis when several workers serve the bot): ``add`` is atomic
    (SET NX), so of two workers given the same update exactly one adds it. The mark is set before the update is
    handled: a worker that dies half-way does not get the update again, which for money is the safe side."""
    bot_id = context.bot.token.split(":", 1)[0]  # the public numeric part: one bot's update ids are unique
    if not await cache.aadd(f"tradingbot:update:{bot_id}:{update.update_id}", 1, DELIVERED_TTL_SECONDS):
        logger.info("Update %s was delivered again; handled once already", update.update_id)
        raise ApplicationHandlerStop


async def private_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let through new messages and button presses in the user's own private chat; refuse or ignore the rest."""
    if update.message is not None and _own_private_chat(update.message.chat, update.message.from_user):
        return
    query = update.callback_query
    if query is not None and query.message is not None and _own_private_chat(query.message.chat, query.from_user):
        return
    if update.edited_message is not None and _own_private_chat(update.edited_message.chat,
                                                               update.edited_message.from_user):
        await reply(update, texts.EDITS_NOT_ACTED)
    elif query is not None:
        await _refuse_button(update)
    elif update.message is not None or update.channel_post is not None:
        await _refuse_command(update)
    raise ApplicationHandlerStop


def _own_private_chat(chat: Chat, user: User | None) -> bool:
    return chat.type == Chat.PRIVATE and user is not None and chat.id == user.id


async def _refuse_button(update: Update) -> None:
    """A press on a message outside the user's private chat: told in the press's own answer, never in the chat."""
    query = update.callback_query
    chat = query.message.chat if query.message is not None else None
    await answer_quietly(query, texts.PRIVATE_ONLY, show_alert=True)
    await db_call(audit.record_outside_private_chat)(
        telegram_user_id=query.from_user.id, username=query.from_user.username or "",
        chat_id=chat.id if chat is not None else 0, chat_type=chat.type if chat is not None else "inline",
        used=f"button {(query.data or '').split(':', 1)[0][:8]}")


async def _refuse_command(update: Update) -> None:
    """A command in a group or a channel: recorded; one line to the group (none to a channel, where every
    subscriber would read it); plain talk in a group is not ours to answer."""
    message, user = update.effective_message, update.effective_user
    text = message.text or ""
    if not text.startswith("/"):
        return
    chat = message.chat
    await db_call(audit.record_outside_private_chat)(
        telegram_user_id=user.id if user is not None else None, username=(user.username or "") if user else "",
        chat_id=chat.id, chat_type=chat.type, used=text.split(maxsplit=1)[0].split("@", 1)[0][:32])
    if chat.type != Chat.CHANNEL and await cache.aadd(f"tradingbot:group-line:{chat.id}", 1, GROUP_LINE_SECONDS):
        await reply(update, texts.PRIVATE_ONLY)
