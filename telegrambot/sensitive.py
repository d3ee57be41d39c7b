"""Messages that show key material (an exported key, an authenticator secret) are deleted after a short time.

Each is written to the database as soon as it is sent, so the deletion survives a restart or a crash: the runner
deletes whatever is due at start, every few seconds, and everything at shutdown.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from custody.models import SensitiveMessage
from kernel.db import db_call
from telegrambot import texts

logger = logging.getLogger(__name__)
JOB_PREFIX = "delete-sensitive-"
Kind = SensitiveMessage.Kind


async def send_sensitive(context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str, *, kind: str,
                         seconds: int) -> Message:
    message = await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True)
    await db_call(_track)(chat_id, message.message_id, kind, seconds)
    context.job_queue.run_once(_delete_job, seconds, chat_id=chat_id, data=(message.message_id, kind),
                               name=f"{JOB_PREFIX}{chat_id}-{message.message_id}")
    return message


async def delete_sensitive(bot: Bot, chat_id: int, message_id: int, kind: str, *, confirm: bool = True) -> bool:
    """Delete one tracked message; tell the user when it held a private key. False if Telegram refused (the row
    stays, and the next sweep tries again)."""
    try:
        await bot.delete_message(chat_id, message_id)
    except BadRequest as err:
        if "not found" not in str(err).lower():
            logger.warning("Could not delete a %s message (chat %s): %s", kind, chat_id, err)
            return False
    except TelegramError as err:
        logger.warning("Could not delete a %s message (chat %s): %s", kind, chat_id, err)
        return False
    if not await db_call(_untrack)(chat_id, message_id):
        return True  # someone else (the job or a sweep) already finished this one
    if confirm and kind == Kind.PRIVATE_KEY:
        try:
            await bot.send_message(chat_id, texts.KEY_DELETED)
        except TelegramError:
            logger.warning("Could not confirm a key message deletion (chat %s)", chat_id)
    return True


async def sweep(bot: Bot, *, everything: bool = False) -> int:
    """Delete every tracked message that is due (``everything``: all of them, at shutdown)."""
    rows = await db_call(_due)(everything)
    deleted = 0
    for chat_id, message_id, kind in rows:
        deleted += await delete_sensitive(bot, chat_id, message_id, kind)
    return deleted


async def _delete_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    message_id, kind = context.job.data
    await delete_sensitive(context.bot, context.job.chat_id, message_id, kind)


def _track(chat_id: int, message_id: int, kind: str, seconds: int) -> None:
    SensitiveMessage.objects.create(chat_id=chat_id, message_id=message_id, kind=kind,
                                    delete_after=timezone.now() + timedelta(seconds=seconds))


def _untrack(chat_id: int, message_id: int) -> bool:
    deleted, _ = SensitiveMessage.objects.filter(chat_id=chat_id, message_id=message_id).delete()
    return bool(deleted)


def _due(everything: bool) -> list[tuple[int, int, str]]:
    rows = SensitiveMessage.objects.all() if everything else SensitiveMessage.objects.filter(
        delete_after__lte=timezone.now())
    return list(rows.order_by("delete_after").values_list("chat_id", "message_id", "kind"))
