"""The person's side of the Telegram stand-in, over HTTP: what the sandbox's web chat page types and reads.

The Bot API (``/bot<token>/…``) is the bot's side. This is the Telegram app's side, on the same server and guarded
by the same token, for one private chat (its id is the person's user id):

- ``POST /chat/<token>/<chat_id>/say`` ``{"text"}``: the person types a message (an update for the bot);
- ``POST …/press`` ``{"message_id", "data"}``: the person presses a button the bot's message offers;
- ``GET …/events?after=N&timeout=S``: a long poll of everything in the chat after event ``N``: the person's
  messages, the bot's messages with the HTML it sent, edits, deletions, the command menu, a button's toast or alert;
- ``GET …/tokens`` and ``POST …/move`` ``{"symbol", "kind": "pump" | "rug"}``: the tokens with their prices, and
  another trader's big swap now (both provided by Localnet).

So a page served by another process (the Django sandbox app) shows the chat live without importing localnet.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable

from localnet.http import Request, Response

MAX_TIMEOUT_SECONDS = 25
MAX_TEXT = 4096
_KEEP = ("message_id", "date", "edit_date", "text", "caption", "reply_markup", "sticker", "photo")


class ChatRoom:
    """An append-only log of chat events, fed by the stand-in's listener hook, and the HTTP routes that read it."""

    def __init__(self, telegram) -> None:
        self.telegram = telegram
        # Who offers the token list the page shows (set by Localnet: symbol, mint, decimals, price).
        self.directory: Callable[[], list[dict]] | None = None
        self.mover: Callable[[str, str], None] | None = None  # pump or rug a token now (set by Localnet)
        self._cond = threading.Condition()
        self._events: list[dict] = []
        self._html: dict[tuple[int, int], str] = {}  # (chat, message) -> the HTML it shows, kept across markup edits
        telegram.listeners.append(self.on_event)

    # Fed by TelegramServer._announce.

    def on_event(self, kind: str, message: dict, text: str | None, parse_mode: str | None) -> None:
        chat_id = message["chat"]["id"] if "chat" in message else None  # the command menu is every chat's
        message_id = message.get("message_id")
        with self._cond:
            if kind == "commands":
                event = {"kind": kind, "commands": message.get("commands", [])}
            elif kind == "answer":
                event = {"kind": kind, "text": text or "", "show_alert": message.get("show_alert", False)}
            elif kind == "delete":
                event = {"kind": kind, "message_id": message_id}
                self._html.pop((chat_id, message_id), None)
            else:
                if text is not None:
                    shown = text if (parse_mode or "").upper() == "HTML" else html.escape(text)
                    self._html[(chat_id, message_id)] = shown
                event = {"kind": kind, "message": _public(message),
                         "html": self._html.get((chat_id, message_id), "")}
            event.update(seq=len(self._events) + 1, chat_id=chat_id)
            self._events.append(event)
            self._cond.notify_all()

    def events(self, chat_id: int, *, after: int = 0, timeout: float = 0.0) -> list[dict]:
        """This chat's events after sequence number ``after`` (and the menu, which belongs to every chat), waiting up
        to ``timeout`` seconds for the first one."""
        deadline = time.monotonic() + min(timeout, MAX_TIMEOUT_SECONDS)
        with self._cond:
            while True:
                found = [e for e in self._events[after:] if e["chat_id"] in (chat_id, None)]
                remaining = deadline - time.monotonic()
                if found or remaining <= 0 or self.telegram._closing.is_set():
                    return found
                self._cond.wait(min(remaining, 0.5))

    # HTTP: /chat/<token>/<chat_id>/<action>

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "chat":
            return _refuse(404, "Not Found")
        _, token, chat, action = parts
        if token != self.telegram.token:
            return _refuse(401, "Unauthorized")
        if not chat.isdigit() or not 0 < int(chat) < 2**52:
            return _refuse(400, "chat id must be a positive number (a private chat is the user's id)")
        chat_id = int(chat)
        try:
            if action == "events" and request.method == "GET":
                after = max(int(request.query.get("after", 0) or 0), 0)
                timeout = float(request.query.get("timeout", 0) or 0)
                events = self.events(chat_id, after=after, timeout=timeout)
                return Response.json({"ok": True, "events": events, "commands": self.telegram.commands})
            if action == "tokens" and request.method == "GET":
                return Response.json({"ok": True, "tokens": self.directory() if self.directory else []})
            body = request.json() or {}
            if action == "say" and request.method == "POST":
                return self._say(chat_id, body)
            if action == "press" and request.method == "POST":
                return self._press(chat_id, body)
            if action == "move" and request.method == "POST" and self.mover is not None:
                self.mover(str(body.get("symbol", "")), str(body.get("kind", "")))
                return Response.json({"ok": True})
        except (ValueError, TypeError, json.JSONDecodeError) as err:
            return _refuse(400, str(err))
        return _refuse(404, "Not Found")

    def _say(self, chat_id: int, body: dict) -> Response:
        text = str(body.get("text", ""))
        if not text.strip():
            return _refuse(400, "type something first")
        if len(text) > MAX_TEXT:
            return _refuse(400, f"a message is at most {MAX_TEXT} characters")
        update_id = self.telegram.send_text_sync(chat_id, text, first_name=str(body.get("first_name") or "You"))
        return Response.json({"ok": True, "update_id": update_id})

    def _press(self, chat_id: int, body: dict) -> Response:
        message_id, data = int(body.get("message_id", 0)), str(body.get("data", ""))
        message = next((m for m in self.telegram.messages(chat_id) if m["message_id"] == message_id), None)
        if message is None:
            return _refuse(400, "that message is gone")
        try:
            update_id = self.telegram.press_sync(chat_id, message, data)
        except AssertionError:
            return _refuse(400, "that button is no longer on the message")
        return Response.json({"ok": True, "update_id": update_id})


def _public(message: dict) -> dict:
    """What the page needs of a message, as it is now. A shallow copy is enough: the stand-in replaces a message's
    fields (text, markup) when it changes them, never mutates them in place."""
    out = {key: message[key] for key in _KEEP if key in message}
    out["from_bot"] = bool(message.get("from", {}).get("is_bot"))
    return out


def _refuse(status: int, description: str) -> Response:
    return Response.json({"ok": False, "description": description}, status=status)
