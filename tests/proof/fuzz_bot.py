"""The bot under fuzz: a driver that sends one input at a time to the real Application and collects what it
answered, the checks every answer must pass, and the database rules for refused and accepted input."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from telegram import Update

from kernel.db import db_call
from positions.models import Position, Trade
from telegrambot import texts
from tests.proof.fuzz_inputs import NOT_MINTS, Pressed, Typed
from wallets.models import UserSettings, UserWallet, Withdrawal

REFUSALS = {texts.UNKNOWN_COMMAND, texts.FREE_TEXT, texts.TOO_LONG, texts.EXPIRED_BUTTON, texts.NOT_YOURS,
            texts.ADMIN_ONLY, texts.THROTTLED, "Cancelled; nothing was changed.", texts.PRIVATE_ONLY,
            texts.EDITS_NOT_ACTED, texts.NOT_TEXT}
# Telegram's other update shapes (issue 14). Outside the private chat (groups, channels, a button pressed in a
# group) nothing may act: one line at most, never in the user's private chat; an edit never acts; a sticker or a
# photo gets a hint; a user without a username or language is served like anyone else.
OUTSIDE = ("group", "supergroup", "channel", "channel_edit", "group_button")
SHAPES = (*OUTSIDE, "edited", "sticker", "photo", "bare")
GROUPS = {"group": -5_001, "supergroup": -1_000_005_002, "channel": -1_000_005_003, "channel_edit": -1_000_005_003,
          "group_button": -5_001}


@dataclass(frozen=True)
class Shaped:
    """An input in one of Telegram's other shapes (``SHAPES``): ``text`` is what is typed, the caption of a photo,
    or the callback data of a button pressed in a group."""

    user: str
    text: str
    shape: str


# Python leaking into a reply: only a finding when the trader did not type it themselves.
_LEAKS = ["Traceback", "Error(", "Exception", " object at 0x", "Decimal(", "InvalidOperation", 'File "', "None",
          "<class", "DoesNotExist", "IntegrityError", "OverflowError"]
# What Telegram's HTML parse mode accepts (core.telegram.org/bots/api#html-style).
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code",
         "pre", "blockquote"}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
TELEGRAM_TEXT_LIMIT = 4096


PAPER_BANNER = "📝 PAPER MODE · trades use virtual SOL · /paper\n\n"  # as Telegram shows it, tags stripped


def without_banner(text: str) -> str:
    """A reply as the checks read it: the paper-mode banner every screen starts with while on paper says nothing
    about the answer itself."""
    return text.removeprefix(PAPER_BANNER)


def is_refusal(text: str) -> bool:
    return text.startswith("⚠️") or text in REFUSALS


def reply_problems(text: str, typed: str) -> list[str]:
    """What is wrong with one reply the trader sees (plain text, as Telegram shows it)."""
    problems = []
    if not text.strip():
        problems.append("empty reply")
    if texts.SERVICE_PROBLEM in text:
        problems.append("generic service-problem reply")
    problems += [f"leaks {leak!r}" for leak in _LEAKS if leak in text and leak not in typed]
    if len(text) > TELEGRAM_TEXT_LIMIT:
        problems.append(f"{len(text)} characters: Telegram refuses more than {TELEGRAM_TEXT_LIMIT}")
    return problems


def html_problems(html: str) -> list[str]:
    """Whether real Telegram would accept ``html`` with parse_mode=HTML (the stand-in only strips tags).

    Telegram refuses a message whose ``<`` does not open a supported tag, whose ``&`` does not start an entity, or
    whose tags do not nest; the bot would then log a warning and the trader would get no answer at all."""
    checker = _TelegramHtml()
    try:
        checker.feed(html)
        checker.close()
    except ValueError as err:
        return [str(err)]
    for position in (m.start() for m in re.finditer("&", html)):
        if not _ENTITY.match(html, position):
            return [f"bare '&' at {position}: {html[max(position - 20, 0):position + 20]!r}"]
    return checker.problems + ([f"unclosed tags {checker.open}"] if checker.open else [])


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in _TAGS:
            self.problems.append(f"unsupported tag <{tag}>")
        self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> does not close {self.open[-1:] or 'anything'}")
        else:
            self.open.pop()

    def handle_data(self, data):
        if "<" in data or ">" in data:
            self.problems.append(f"bare angle bracket in {data[:40]!r}")


@dataclass
class World:
    """The running bot, the Bot API stand-in, localnet and the traders fuzzing the bot."""

    telegram: object
    localnet: object
    users: dict[str, int]  # slot ("A", "B", …) -> Telegram user id
    mints: dict[str, str]  # placeholder name ("BONK") -> mint
    positions: dict[int, int] = field(default_factory=dict)  # user id -> an open position of theirs
    wallets: dict[str, str] = field(default_factory=dict)  # slot -> public key of a trader kept funded
    errors: list[str] = field(default_factory=list)
    _finished: dict[int, asyncio.Event] = field(default_factory=dict)
    _fresh: itertools.count = field(default_factory=lambda: itertools.count(771_000))

    def watch(self, application) -> None:
        """Know when an update is fully handled, whatever its handlers did (one stopped before any handler, in a
        group or as an edit, runs no handler after it): wrap the entry point polling calls for every update."""
        original = application.process_update

        async def process_update(update: Update) -> None:
            try:
                await original(update)
            finally:
                self._finished.setdefault(update.update_id, asyncio.Event()).set()

        application.process_update = process_update

    async def act(self, action: Typed | Pressed | Shaped) -> tuple[str, list[str], list[str]]:
        """Send one input, wait until the bot has handled it; (what was sent, replies, HTML the bot sent). For an
        input outside the private chat, the replies are those in that chat, and the private chat must stay quiet."""
        user_id = next(self._fresh) if action.user == "fresh" else self.users[action.user]
        chat_id = GROUPS.get(getattr(action, "shape", ""), user_id)
        calls = len(self.telegram.calls)
        if isinstance(action, Shaped):
            sent, update_id = await self._send_shaped(action, user_id)
        elif isinstance(action, Typed):
            sent = await self._fill_own(self._fill(action.text, user_id), user_id)
            update_id = await self.telegram.send_text(user_id, sent)
        else:
            message, sent = self._button(user_id, action)
            update_id = await self.telegram.press(user_id, message, sent, forge=True)
        await self._handled(update_id, sent)
        replies = self._drain(chat_id)
        if chat_id != user_id:
            assert not self._drain(user_id), f"{sent[:200]!r} in a {action.shape} made the bot write privately"
        html = [params.get("text", "") for method, params in self.telegram.calls[calls:]
                if method in ("sendMessage", "editMessageText") and str(params.get("chat_id")) == str(chat_id)
                and str(params.get("parse_mode", "")).upper() == "HTML"]
        return sent, replies, html

    def answers(self, since: int) -> list[str]:
        """What the bot answered to button presses (``answerCallbackQuery`` texts) since call number ``since``."""
        return [params.get("text") or "" for method, params in self.telegram.calls[since:]
                if method == "answerCallbackQuery"]

    async def _send_shaped(self, action: Shaped, user_id: int) -> tuple[str, int]:
        telegram, shape = self.telegram, action.shape
        sent = await self._fill_own(self._fill(action.text, user_id), user_id)
        if shape in ("group", "supergroup"):
            return sent, await telegram.send_group_text(GROUPS[shape], user_id, sent, supergroup=shape == "supergroup")
        if shape == "channel":
            return sent, await telegram.post_to_channel(GROUPS[shape], sent)
        if shape == "channel_edit":
            await self._handled(await telegram.post_to_channel(GROUPS[shape], "gm"), "gm")
            self._drain(GROUPS[shape])
            return sent, await telegram.edit_text(GROUPS[shape], sent)
        if shape == "group_button":
            message = {"message_id": 10**9, "date": 0, "chat": {"id": GROUPS[shape], "type": "group", "title": "G"},
                       "text": "gone", "from": {"id": 1, "is_bot": True, "first_name": "Bot"}}
            return sent, await telegram.press(user_id, message, sent, forge=True)
        if shape == "edited":
            return sent, await telegram.edit_text(user_id, sent)  # the slots all typed /start before
        if shape == "sticker":
            return "(a sticker)", await telegram.send_sticker(user_id)
        if shape == "photo":
            return sent, await telegram.send_photo(user_id, caption=sent[:1024])
        return sent, await telegram.send_text(user_id, sent, bare=True)

    async def _handled(self, update_id: int, sent: str) -> None:
        finished = self._finished.setdefault(update_id, asyncio.Event())
        try:
            await asyncio.wait_for(finished.wait(), timeout=60)
        except TimeoutError:
            pytest.fail(f"the bot did not finish handling {sent[:200]!r} within 60 s")
        del self._finished[update_id]

    def _drain(self, chat_id: int) -> list[str]:
        replies = []
        while True:
            try:
                replies.append(self.telegram.next_reply_sync(chat_id, timeout=0)["text"])
            except TimeoutError:
                return replies

    def keep_funded(self) -> None:
        """Withdrawals and buys drain the traders; top them up on the chain (not in the database)."""
        for public_key in self.wallets.values():
            if self.localnet.chain.sol_balance(public_key) < 3 * 10**9:
                self.localnet.chain.airdrop(public_key, 10 * 10**9)

    def _fill(self, text: str, user_id: int) -> str:
        own = self.positions.get(user_id, 0)
        other = next((pk for uid, pk in self.positions.items() if uid != user_id), 0)
        for name, mint in self.mints.items():
            text = text.replace(f"${name}", mint)
        return text.replace("$OTHERPOS", str(other)).replace("$POS", str(own))

    async def _fill_own(self, text: str, user_id: int) -> str:
        if "$OWN" not in text:
            return text
        key = await db_call(lambda: UserWallet.objects.filter(telegram_user_id=user_id)
                            .values_list("public_key", flat=True).first())()
        return text.replace("$OWN", key or NOT_MINTS[-1])

    def _button(self, user_id: int, action: Pressed) -> tuple[dict, str]:
        """A button the bot really showed (``action.real``), or ``action.data`` forged onto its latest message.
        The exported-key message is left alone: its deletion job would answer during a later input."""
        shown = [m for m in self.telegram.messages(user_id)
                 if m.get("from", {}).get("is_bot") and "private key" not in m.get("text", "")]
        if action.real is not None:
            offered = [(m, b["callback_data"]) for m in reversed(shown) for row in
                       m.get("reply_markup", {}).get("inline_keyboard", []) for b in row if b.get("callback_data")]
            if offered:
                return offered[action.real % len(offered)]
        message = shown[-1] if shown else {"message_id": 10**9, "date": 0, "chat": {"id": user_id, "type": "private"},
                                           "text": "gone", "from": {"id": 1, "is_bot": True, "first_name": "Bot"}}
        return message, self._fill(action.data, user_id)


class ErrorLog(logging.Handler):
    """Every error the bot logs is a finding, and so is a warning from the handlers (a reply Telegram refused)."""

    def __init__(self, world: World) -> None:
        super().__init__(level=logging.WARNING)
        self.world = world

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.name.startswith("telegrambot.handlers"):
            self.world.errors.append(f"{record.name}: {record.getMessage()}")


@db_call
def snapshot() -> dict[str, list[dict]]:
    """Every row of the tables a trader's input can touch (a few hundred at most in a fuzz run)."""
    from custody.models import AllowedAddress, KillSwitch, SecondFactor, WithdrawalPolicy
    from positions.models import PaperAccount

    models = {"wallets": UserWallet, "settings": UserSettings, "positions": Position, "trades": Trade,
              "withdrawals": Withdrawal, "second_factors": SecondFactor, "policies": WithdrawalPolicy,
              "allowlist": AllowedAddress, "kill_switches": KillSwitch, "paper_accounts": PaperAccount}
    return {name: list(model.objects.order_by("pk").values()) for name, model in models.items()}


def only_failed_attempts(before: dict, after: dict) -> bool:
    """Nothing changed, except that the ledger may keep a failed attempt: a transaction signed and recorded
    before the network refused it stays on record with status failed, by design."""
    for name in before:
        old, new = before[name], after[name]
        if name == "withdrawals":  # a request awaiting its button, and its closing unconfirmed or refused, move nothing
            old, new = _without_requests(old), _without_requests(new)
        if name in ("trades", "withdrawals"):
            if new[:len(old)] != old or any(row["status"] != "failed" for row in new[len(old):]):
                return False
        elif old != new:
            return False
    return True


def reports_a_change(action: Typed | Pressed, replies: list[str]) -> bool:
    """Replies that tell of a change: a new wallet, a saved setting, a trade or withdrawal (done or failed), a
    toggle (answered with the settings view)."""
    changed = ("✅", "❌", "🎯", "Added ", "Removed ", "Done: ", "Loosening ", "⏳ Withdrawal delayed",
               "Your allow-list switches off", "Cancelled: ", "🔐 Authenticator set-up key",
               "Two-step verification is off", "📝 Paper trading is on", "💰 Paper trading is off",
               "📝 Paper book reset")
    reported = any(text.startswith(changed) or "Welcome!" in text for text in replies)
    toggled = isinstance(action, Pressed) and bool(replies) and replies[-1].startswith("Settings")
    return reported or toggled


def same_but_requests(before: dict, after: dict) -> bool:
    """Equal, apart from withdrawal requests awaiting their button (a confirmation prompt moves nothing)."""
    return all(before[name] == after[name] if name != "withdrawals" else
               _without_requests(before[name]) == _without_requests(after[name]) for name in before)


def _without_requests(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["status"] != "requested" and not (
        row["status"] == "cancelled" and row["signature"] is None and row["execute_after"] is None)]


def changes(before: dict, after: dict) -> dict:
    return {name: [row for row in after[name] if row not in before[name]] for name in before
            if before[name] != after[name]}
