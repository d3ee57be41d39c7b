"""What the bot is waiting for from each user: confirmation buttons (by nonce), and the one question it asked last
(an authenticator code, a setting's value, a buy amount).

Kept in Django's cache under the user's Telegram id, not in python-telegram-bot's per-process ``user_data``: with
several webhook workers sharing a Redis cache, a button press or an answer may reach any worker and still find what
it answers. With one process the local-memory cache does the same. Entries expire; none holds a secret (key material
is never part of an action), and a key names its user, so a button forged by someone else finds nothing.

Entries are plain JSON (``kernel/cache.py``: never pickled), and none is trusted with money: a withdrawal's button
holds only the id of the withdrawal row, whose destination and amount the database keeps.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from custody import audit
from kernel.db import db_call
from telegrambot import pending

BUTTON_TTL_SECONDS = 30 * 60
QUESTION_TTL_SECONDS = 30 * 60
_NONCE = re.compile(r"[A-Za-z0-9_-]{8}")  # secrets.token_urlsafe(6)


@dataclass(frozen=True)
class Question:
    kind: str  # "code", "setting", "buy_mint" or "order"
    value: Any  # the action awaiting a code (None if its entry is not one this bot writes), a setting's key, a mint
    asked_at: float  # wall-clock seconds, so any worker can tell its age


async def remember(user_id: int, action: pending.Action) -> str:
    """Keep an action until its confirmation button is pressed; the returned nonce goes into the callback data."""
    nonce = secrets.token_urlsafe(6)
    await cache.aset(_button_key(user_id, nonce), pending.dump(action), BUTTON_TTL_SECONDS)
    return nonce


async def recall(user_id: int, nonce: str) -> pending.Action | pending.Unreadable | None:
    """The action behind a button, once: of two presses (reaching two workers, say), only one gets it. None when
    there is none (pressed already, expired, or not this user's button)."""
    if not _NONCE.fullmatch(nonce):
        return None
    stored = await _take(_button_key(user_id, nonce))
    if stored is None:
        return None
    return pending.load(stored) or pending.Unreadable()


async def ask_code(user_id: int, action: pending.Action, *, asked_at: float | None = None) -> None:
    """The user's next text is the authenticator code that lets ``action`` go ahead."""
    await ask(user_id, "code", pending.dump(action), asked_at=asked_at)


async def ask(user_id: int, kind: str, value: Any, *, asked_at: float | None = None) -> None:
    """The user's next text answers this question (a newer question replaces an older one)."""
    question = {"kind": kind, "value": value, "asked_at": time.time() if asked_at is None else asked_at}
    await cache.aset(_question_key(user_id), question, QUESTION_TTL_SECONDS)


async def answer(user_id: int) -> Question | None:
    """The question the user's text answers, if any; taken, so it is answered once."""
    stored = await _take(_question_key(user_id))
    if not isinstance(stored, dict) or not isinstance(stored.get("kind"), str):
        return None
    asked_at = stored.get("asked_at")
    value = pending.load(stored.get("value")) if stored["kind"] == "code" else stored.get("value")
    return Question(stored["kind"], value, asked_at if isinstance(asked_at, int | float) else 0.0)


async def forget_question(user_id: int) -> None:
    await cache.adelete(_question_key(user_id))


async def _take(key: str):
    value = await cache.aget(key)
    if value is None:
        if await cache.ahas_key(key):  # there, but not JSON: not written by this bot (a planted pickle, say)
            await cache.adelete(key)
            await db_call(audit.record)(audit.Action.CACHE_ENTRY_REFUSED, actor="unknown (shared cache)",
                                        source=audit.BOT, key=key)
        return None
    if not await cache.adelete(key):  # delete is atomic: the one that removed it owns it
        return None
    return value


def _button_key(user_id: int, nonce: str) -> str:
    return f"tradingbot:button:{user_id}:{nonce}"


def _question_key(user_id: int) -> str:
    return f"tradingbot:question:{user_id}"
