"""A Telegram Bot API stand-in (``/bot<token>/<method>``) and a driver that types and presses as users.

Replies carry what real Telegram returns: full Message objects, HTML parse mode applied (tags stripped from
``text``), ``{"ok": false, "error_code": …, "description": …}`` on errors. Every call the bot makes is recorded.

What real Telegram does to a bot, and the stand-in too: people type in groups, supergroups and channels the bot was
added to (channel posts have no user); they edit sent messages (an ``edited_message`` update); they send stickers
and photos with captions; some have no username or language. A button press must be answered in time: a late
answer, a second answer or an unknown query id is refused with "query is too old" (``late_callback_seconds``,
``fail_callback_answers``). A webhook update can be delivered twice (``deliver_twice``).
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
from collections.abc import Callable
from urllib.parse import parse_qsl

from localnet.chatroom import ChatRoom
from localnet.http import Request, Response, Server

BOT_USER = {"id": 7_000_001, "is_bot": True, "first_name": "Localnet Bot", "username": "localnet_bot"}
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
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
        self._chat_info: dict[int, dict] = {}  # groups, supergroups and channels by id; any other id is private
        self._queries: dict[str, float] = {}  # unanswered callback query id -> when it was pressed
        self._query_chats: dict[str, int] = {}  # and in which chat
        self.late_callback_seconds: float | None = None  # answers later than this are refused as too old
        self.fail_callback_answers = False  # every answer is refused as too old
        self.deliver_twice = False  # every update is delivered twice (a webhook retry)
        self._replies: dict[int, list[dict]] = {}
        self._read: dict[int, int] = {}
        # Told of every message, edit and deletion in any chat, and of the command menu:
        # listener(kind, message, text, parse_mode) with kind "message", "edit", "delete", "commands" or "answer"
        # (a button's answer with a text: Telegram's toast or alert).
        self.listeners: list[Callable[[str, dict, str | None, str | None], None]] = []
        self.chat_room = ChatRoom(self)  # the person's side over HTTP (/chat/…), for the sandbox's web chat page

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
        if request.path.startswith("/chat/"):
            return self.chat_room.handle(request)
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
        self._announce("edit", message, params.get("text", ""), params.get("parse_mode"))
        return message

    def _editMessageReplyMarkup(self, params):
        message = self._bot_message(params)
        _set_markup(message, _markup(params.get("reply_markup")))
        self._announce("edit", message)
        return message

    def _deleteMessage(self, params):
        chat = self._chats.get(int(params["chat_id"]), {})
        message = chat.pop(int(params["message_id"]), None)
        if message is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        self._announce("delete", message)
        return True

    def _answerCallbackQuery(self, params):
        with self._cond:
            pressed_at = self._queries.pop(str(params.get("callback_query_id", "")), None)
        late = self.late_callback_seconds is not None and pressed_at is not None and \
            time.monotonic() - pressed_at >= self.late_callback_seconds
        if pressed_at is None or late or self.fail_callback_answers:
            raise _ApiError(400, QUERY_TOO_OLD)
        if len(params.get("text") or "") > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        chat_id = self._query_chats.pop(str(params.get("callback_query_id", "")), None)
        if params.get("text") and chat_id is not None:  # what Telegram shows as a toast, or an alert
            self._announce("answer", {"chat": {"id": chat_id}, "show_alert": params.get("show_alert") in
                                      (True, "true", "True")}, params["text"])
        return True

    def _setMyCommands(self, params):
        self.commands = json.loads(params["commands"]) if isinstance(params["commands"], str) else params["commands"]
        self._announce("commands", {"commands": self.commands})
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
                   "chat": self._chat(chat_id), "text": plain}
        _set_markup(message, _markup(params.get("reply_markup")))
        self._chats.setdefault(chat_id, {})[message["message_id"]] = message
        self._record(method, message)
        self._announce("message", message, text, params.get("parse_mode"))
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

    def _announce(self, kind: str, message: dict, text: str | None = None, parse_mode: str | None = None) -> None:
        for listener in list(self.listeners):
            listener(kind, message, text, parse_mode)

    # The driver: users typing and pressing.

    def send_text_sync(self, user_id: int, text: str, *, username: str | None = None,
                       first_name: str | None = None, bare: bool = False) -> int:
        """``user_id`` types ``text`` in their private chat with the bot; ``bare``: a user with no username and no
        language set."""
        sender = _user(user_id, username, first_name, bare=bare)
        return self._push({"message": self._user_message(user_id, sender, text=text)})

    def send_group_text_sync(self, group_id: int, user_id: int, text: str, *, supergroup: bool = False) -> int:
        """``user_id`` types in a group (or supergroup) the bot was added to; replies are read with
        ``next_reply(group_id)``."""
        self._chat_info[group_id] = {"id": group_id, "type": "supergroup" if supergroup else "group",
                                     "title": f"Group {abs(group_id)}"}
        return self._push({"message": self._user_message(group_id, _user(user_id), text=text)})

    def post_to_channel_sync(self, channel_id: int, text: str) -> int:
        """A post in a channel where the bot is an admin: a ``channel_post`` with no user, signed by the chat."""
        chat = {"id": channel_id, "type": "channel", "title": f"Channel {abs(channel_id)}"}
        self._chat_info[channel_id] = chat
        return self._push({"channel_post": self._user_message(channel_id, None, text=text, sender_chat=chat)})

    def edit_text_sync(self, chat_id: int, text: str, *, message_id: int | None = None) -> int:
        """Edit a message a person sent (by default the latest one in the chat): Telegram sends the whole message
        again as ``edited_message`` (``edited_channel_post`` in a channel), same id, new text, an ``edit_date``."""
        sent = [m for m in self._chats.get(chat_id, {}).values()
                if "text" in m and not m.get("from", {}).get("is_bot")]
        message = next((m for m in reversed(sent) if message_id in (None, m["message_id"])), None)
        if message is None:
            raise AssertionError(f"no message {message_id or ''} of a person in chat {chat_id} to edit")
        message.pop("entities", None)
        message.update(text=text, edit_date=int(time.time()), **_command_entities(text, "entities"))
        kind = "edited_channel_post" if message["chat"]["type"] == "channel" else "edited_message"
        return self._push({kind: json.loads(json.dumps(message))})

    def send_sticker_sync(self, user_id: int, *, emoji: str = "👍") -> int:
        sticker = {"file_id": f"sticker-{secrets.token_hex(6)}", "file_unique_id": secrets.token_hex(4),
                   "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False,
                   "emoji": emoji}
        return self._push({"message": self._user_message(user_id, _user(user_id), sticker=sticker)})

    def send_photo_sync(self, user_id: int, *, caption: str = "") -> int:
        """A photo, with a caption that may look like a command (Telegram marks it in ``caption_entities``, and a
        caption is never a command to the bot)."""
        photo = [{"file_id": f"photo-{secrets.token_hex(6)}", "file_unique_id": secrets.token_hex(4),
                  "width": width, "height": width * 3 // 4, "file_size": width * 90} for width in (90, 320, 800)]
        fields = {"photo": photo}
        if caption:
            fields.update(caption=caption, **_command_entities(caption, "caption_entities"))
        return self._push({"message": self._user_message(user_id, _user(user_id), **fields)})

    def press_sync(self, user_id: int, message: dict, data: str, *, forge: bool = False) -> int:
        if not forge:
            offered = [button.get("callback_data") for row in (message.get("reply_markup") or {})
                       .get("inline_keyboard", []) for button in row]
            if data not in offered:
                raise AssertionError(f"{data!r} is not a button of that message (offered: {offered})")
        stored = self._chats.get(message["chat"]["id"], {}).get(message["message_id"], message)
        query_id = str(next(self._callback_ids))
        with self._cond:
            self._queries[query_id] = time.monotonic()
            self._query_chats[query_id] = message["chat"]["id"]
        query = {"id": query_id, "from": _user(user_id), "message": stored,
                 "chat_instance": str(message["chat"]["id"]), "data": data}
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

    async def send_group_text(self, group_id: int, user_id: int, text: str, *, supergroup: bool = False) -> int:
        return self.send_group_text_sync(group_id, user_id, text, supergroup=supergroup)

    async def post_to_channel(self, channel_id: int, text: str) -> int:
        return self.post_to_channel_sync(channel_id, text)

    async def edit_text(self, chat_id: int, text: str, *, message_id: int | None = None) -> int:
        return self.edit_text_sync(chat_id, text, message_id=message_id)

    async def send_sticker(self, user_id: int, **kwargs) -> int:
        return self.send_sticker_sync(user_id, **kwargs)

    async def send_photo(self, user_id: int, **kwargs) -> int:
        return self.send_photo_sync(user_id, **kwargs)

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

    def next_ids(self) -> tuple[int, int]:
        """The next update id and message id (localnet.state keeps them across runs: a bot still polling with its
        offset must not have the new run's updates skipped as old)."""
        with self._cond:
            update_id, message_id = next(self._update_ids), next(self._message_ids)
            self.continue_ids(update_id=update_id, message_id=message_id)
        return update_id, message_id

    def continue_ids(self, *, update_id: int, message_id: int) -> None:
        with self._cond:
            self._update_ids, self._message_ids = itertools.count(update_id), itertools.count(message_id)

    def reset(self) -> None:
        with self._cond:
            self._updates.clear()
            self.webhook = {"url": "", "secret_token": ""}
            self._upstreams = None
            self._queries.clear()
            self._query_chats.clear()
            self.late_callback_seconds = None
            self.fail_callback_answers = False
            self.deliver_twice = False
            for chat_id, replies in self._replies.items():
                self._read[chat_id] = len(replies)

    def _user_message(self, chat_id: int, sender: dict | None, **fields) -> dict:
        """A message a person (or, with no ``sender``, a channel) sent, stored so it can be edited or pressed."""
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self._chat(chat_id),
                   **({"from": sender} if sender is not None else {}), **fields}
        if "text" in fields:
            message.update(_command_entities(fields["text"], "entities"))
        self._chats.setdefault(chat_id, {})[message["message_id"]] = message
        self._announce("message", message, fields.get("text", fields.get("caption")))
        return message

    def _chat(self, chat_id: int) -> dict:
        return self._chat_info.get(chat_id) or _chat(chat_id)

    def _push(self, payload: dict) -> int:
        update = {"update_id": next(self._update_ids), **json.loads(json.dumps(payload))}
        copies = 2 if self.deliver_twice else 1
        if self.webhook["url"]:
            for _ in range(copies):  # with a balancer, the copies reach different workers
                threading.Thread(target=self._deliver, args=(update,), daemon=True).start()
            return update["update_id"]
        with self._cond:
            self._updates.extend([update] * copies)
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


def _user(user_id: int, username: str | None = None, first_name: str | None = None, *, bare: bool = False) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
    if not bare:  # many people set no username, and Telegram sends no language_code for some
        user.update(username=username or f"user{user_id}", language_code="en")
    return user


def _command_entities(text: str, key: str) -> dict:
    """Telegram marks a leading command (``/buy``, ``/buy@bot``) as a ``bot_command`` entity."""
    if not text.startswith("/"):
        return {}
    return {key: [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}


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
