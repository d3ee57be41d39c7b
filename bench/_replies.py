"""The bot's messages as they reach the Bot API stand-in, stamped and queued per chat, for latency benchmarks.

The stand-in's driver API (``next_reply``) polls every 10 ms per chat: too coarse for a 20 ms reply, and for 500
chats it would load the process localnet runs in. Wrapping the one method where the stand-in stores a bot message
(sent or edited) gives the exact moment the reply reached "Telegram", at no cost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

PROGRESS = "⏳"  # a trade's progress message starts so until its final edit


@dataclass(frozen=True)
class Stamped:
    at: float  # time.perf_counter() when the stand-in stored the message
    text: str  # as Telegram shows it: HTML applied, tags stripped
    reply_markup: dict | None


class StampedReplies:
    def __init__(self, telegram, chat_ids: Iterable[int]) -> None:
        loop = asyncio.get_running_loop()
        self._inboxes: dict[int, asyncio.Queue[Stamped]] = {chat_id: asyncio.Queue() for chat_id in chat_ids}
        store = telegram._record

        def store_and_deliver(method: str, message: dict) -> None:
            store(method, message)
            inbox = self._inboxes.get(message["chat"]["id"])
            if inbox is not None:
                stamped = Stamped(time.perf_counter(), message["text"], message.get("reply_markup"))
                loop.call_soon_threadsafe(inbox.put_nowait, stamped)

        telegram._record = store_and_deliver

    async def final(self, chat_id: int, *, timeout: float) -> Stamped:
        """The next message in the chat that is not a progress message (TimeoutError after ``timeout`` s)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self._inboxes[chat_id].get()
                if not message.text.startswith(PROGRESS):
                    return message
