"""A Telegram Bot API stand-in (``/bot<token>/<method>``) and a driver that types and presses as users.

Replies carry what real Telegram returns: full Message objects, HTML parse mode applied (tags stripped from
``text``), ``{"ok": false, "error_code": …, "description": …}`` on errors. Every call the bot makes is recorded.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import secrets
import threading
import time
import urllib.request
from urllib.parse import parse_qsl

from localnet.http import Request, Response, Server

BOT_USER = {"id": 7_000_001, "is_bot": True, "first_name": "Localnet Bot", "username": "localnet_bot"}
_TAG = re.compile(r"<[^>]+>")


class TelegramServer(Server):
    def __init__(self, *, token: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token = token or f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"
        self.calls: list[tuple[str, dict]] = []
        self.commands: list[dict] = []
        self.webhook: dict = {"url": "", "secret_token": ""}
        self._upstreams: itertools.cycle | None = None  # webhook workers behind a balancer, taken in turn
        self._cond = threading.Condition()
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._chats: dict[int, dict[int, dict]] = {}
        self._replies: dict[int, list[dict]] = {}
        self._read: dict[int, int] = {}

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def request_name(self, request: Request) -> str:
        return request.path.rsplit("/", 1)[-1]

    def fault_response(self, status: int, retry_after: float | None) -> Response:
        if status == 429:
            seconds = int(retry_after or 1)
            return _error(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
        return _error(status, "Internal Server Error" if status >= 500 else "Bad Request")

    def handle(self, request: Request) -> Response:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if match is None:
            return _error(404, "Not Found")
        token, method = match.groups()
        if token != self.token:
            return _error(401, "Unauthorized")
        params = _params(request)
        self.calls.append((method, params))
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            return Response.json({"ok": True, "result": handler(params)})
        except _ApiError as err:
            return _error(err.code, err.description, err.parameters)

    # Bot API methods.

    def _getMe(self, params):
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _getUpdates(self, params):
        if self.webhook["url"]:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                 "deleteWebhook to delete the webhook first")
        offset, timeout = int(params.get("offset", 0) or 0), float(params.get("timeout", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        deadline = time.monotonic() + min(timeout, 30)
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._closing.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.25))
            return self._updates[:limit]

    def _sendMessage(self, params):
        return self._new_bot_message("sendMessage", params, text=params.get("text", ""))

    def _sendPhoto(self, params):
        return self._new_bot_message("sendPhoto", params, text=params.get("caption", ""))

    def _editMessageText(self, params):
        message = self._bot_message(params)
        text = _checked_length(_plain(params.get("text", ""), params.get("parse_mode")), 4096)
        markup = _markup(params.get("reply_markup"))
        if message["text"] == text and message.get("reply_markup") == markup:
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                 "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = text
        message["edit_date"] = int(time.time())
        _set_markup(message, markup)
        self._record("editMessageText", message)
        return message

    def _editMessageReplyMarkup(self, params):
        message = self._bot_message(params)
        _set_markup(message, _markup(params.get("reply_markup")))
        return message

    def _deleteMessage(self, params):
        chat = self._chats.get(int(params["chat_id"]), {})
        if chat.pop(int(params["message_id"]), None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    def _answerCallbackQuery(self, params):
        return True

    def _setMyCommands(self, params):
        self.commands = json.loads(params["commands"]) if isinstance(params["commands"], str) else params["commands"]
        return True

    def _getMyCommands(self, params):
        return self.commands

    def _setWebhook(self, params):
        self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token", "")}
        return True

    def _deleteWebhook(self, params):
        self.webhook = {"url": "", "secret_token": ""}
        return True

    def _getWebhookInfo(self, params):
        return {"url": self.webhook["url"], "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    # Messages.

    def _new_bot_message(self, method: str, params: dict, *, text: str) -> dict:
        chat_id = int(params["chat_id"])
        photo = method == "sendPhoto"
        plain = _checked_length(_plain(text, params.get("parse_mode")), 1024 if photo else 4096, allow_empty=photo)
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": BOT_USER,
                   "chat": _chat(chat_id), "text": plain}
        _set_markup(message, _markup(params.get("reply_markup")))
        self._chats.setdefault(chat_id, {})[message["message_id"]] = message
        self._record(method, message)
        return message

    def _bot_message(self, params: dict) -> dict:
        chat = self._chats.get(int(params.get("chat_id", 0)), {})
        message = chat.get(int(params.get("message_id", 0)))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    def _record(self, method: str, message: dict) -> None:
        with self._cond:
            event = {"method": method, **json.loads(json.dumps(message)), "chat_id": message["chat"]["id"]}
            self._replies.setdefault(message["chat"]["id"], []).append(event)
            self._cond.notify_all()

    # The driver: users typing and pressing.

    def send_text_sync(self, user_id: int, text: str, *, username: str | None = None,
                       first_name: str | None = None) -> int:
        sender = _user(user_id, username, first_name)
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "from": sender,
                   "chat": _chat(user_id), "text": text}
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._chats.setdefault(user_id, {})[message["message_id"]] = message
        return self._push({"message": message})

    def press_sync(self, user_id: int, message: dict, data: str, *, forge: bool = False) -> int:
        if not forge:
            offered = [button.get("callback_data") for row in (message.get("reply_markup") or {})
                       .get("inline_keyboard", []) for button in row]
            if data not in offered:
                raise AssertionError(f"{data!r} is not a button of that message (offered: {offered})")
        stored = self._chats.get(message["chat"]["id"], {}).get(message["message_id"], message)
        query = {"id": str(next(self._callback_ids)), "from": _user(user_id), "message": stored,
                 "chat_instance": str(user_id), "data": data}
        return self._push({"callback_query": query})

    def next_reply_sync(self, chat_id: int, *, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                replies = self._replies.get(chat_id, [])
                index = self._read.get(chat_id, 0)
                if index < len(replies):
                    self._read[chat_id] = index + 1
                    return replies[index]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [r.get("text", "")[:80] for r in replies]
                    raise TimeoutError(f"no new reply in chat {chat_id} within {timeout} s; all replies: {seen}")
                self._cond.wait(min(remaining, 0.1))

    async def send_text(self, user_id: int, text: str, **kwargs) -> int:
        return self.send_text_sync(user_id, text, **kwargs)

    async def press(self, user_id: int, message: dict, data: str, *, forge: bool = False) -> int:
        return self.press_sync(user_id, message, data, forge=forge)

    async def next_reply(self, chat_id: int, *, timeout: float = 10.0) -> dict:
        """Wait without blocking the event loop (the bot under test runs on it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.next_reply_sync(chat_id, timeout=0)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return self.next_reply_sync(chat_id, timeout=0.01)
            await asyncio.sleep(0.01)

    async def wait_for(self, chat_id: int, predicate, *, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.next_reply(chat_id, timeout=max(deadline - time.monotonic(), 0.01))
            if predicate(reply):
                return reply

    def messages(self, chat_id: int) -> list[dict]:
        return list(self._chats.get(chat_id, {}).values())

    def balance_webhook(self, urls: list[str], *, secret_token: str) -> None:
        """Deliver updates in turn to several webhook workers, as the TLS-terminating reverse proxy in front of them
        would (Telegram itself posts to the one URL set with setWebhook). Consecutive updates of one user reach
        different workers."""
        with self._cond:
            self.webhook = {"url": urls[0], "secret_token": secret_token}
            self._upstreams = itertools.cycle(urls)

    def reset(self) -> None:
        with self._cond:
            self._updates.clear()
            self.webhook = {"url": "", "secret_token": ""}
            self._upstreams = None
            for chat_id, replies in self._replies.items():
                self._read[chat_id] = len(replies)

    def _push(self, payload: dict) -> int:
        update = {"update_id": next(self._update_ids), **payload}
        if self.webhook["url"]:
            threading.Thread(target=self._deliver, args=(update,), daemon=True).start()
            return update["update_id"]
        with self._cond:
            self._updates.append(update)
            self._cond.notify_all()
        return update["update_id"]

    def _deliver(self, update: dict) -> None:
        headers = {"Content-Type": "application/json"}
        if self.webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        with self._cond:
            balanced = self._upstreams is not None
            url = next(self._upstreams) if balanced else self.webhook["url"]
        if balanced:  # the balancer is the TLS-terminating proxy of a real deployment, and says so
            headers.update({"X-Forwarded-Proto": "https", "X-Forwarded-For": "149.154.167.220"})
        request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self.calls.append(("webhook-delivery", {"status": response.status}))
        except OSError as err:
            self.calls.append(("webhook-delivery", {"error": str(err)}))


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def _error(code: int, description: str, parameters: dict | None = None) -> Response:
    body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response.json(body, status=code)


def _params(request: Request) -> dict:
    content_type = request.headers.get("content-type", "")
    if request.method == "GET":
        return dict(request.query)
    if "json" in content_type:
        return request.json() or {}
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


def _markup(value) -> dict | None:
    if value in (None, "", "null"):
        return None
    return json.loads(value) if isinstance(value, str) else value


def _set_markup(message: dict, markup: dict | None) -> None:
    if markup and markup.get("inline_keyboard"):
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


def _plain(text: str, parse_mode: str | None) -> str:
    if parse_mode and parse_mode.upper() == "HTML":
        return html.unescape(_TAG.sub("", text))
    return text


def _user(user_id: int, username: str | None = None, first_name: str | None = None) -> dict:
    return {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}",
            "username": username or f"user{user_id}", "language_code": "en"}


def _chat(chat_id: int) -> dict:
    return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}


def _checked_length(text: str, limit: int, *, allow_empty: bool = False) -> str:
    """Telegram counts the text after entity parsing and refuses anything longer than the limit."""
    if len(text) > limit:
        raise _ApiError(400, "Bad Request: message is too long" if limit == 4096 else
                        "Bad Request: message caption is too long")
    if not allow_empty and not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    return text
