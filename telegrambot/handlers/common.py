"""What every handler shares: dependencies, the error boundary, throttling and the one-trade-at-a-time rule."""

from __future__ import annotations

import contextvars
import functools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import CallbackQuery, Chat, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from custody.money_out import MoneyOut
from kernel.chain.jupiter import JupiterClient
from kernel.chain.rpc import RpcGateway
from kernel.clock import Clock
from kernel.config import TradingConfig
from kernel.errors import UserFacingError
from positions.errors import TradingError
from positions.trading import TradingService
from telegrambot import texts
from wallets.crypto import Keyring

logger = logging.getLogger(__name__)
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


@dataclass
class BotDeps:
    """Everything handlers use, set once at build time (``context.application.bot_data["deps"]``)."""

    config: TradingConfig
    trading: TradingService
    money_out: MoneyOut
    rpc: RpcGateway
    jupiter: JupiterClient
    keyring: Keyring
    key_message_seconds: int = 60
    clock: Clock = field(default_factory=Clock)
    throttle_limit: int = 10
    throttle_window_seconds: float = 10.0
    busy_users: set[int] = field(default_factory=set)
    recent: dict[int, deque] = field(default_factory=lambda: defaultdict(deque))


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.application.bot_data["deps"]


def guarded(handler: Handler) -> Handler:
    """Turn every expected failure into a specific reply, and anything else into a calm one. No traceback ever
    reaches a trader; unexpected errors are logged for the operators."""

    @functools.wraps(handler)
    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await handler(update, context)
        except UserFacingError as err:
            await reply(update, texts.refused(texts.refusal(err)))
        except ApplicationHandlerStop:
            raise
        except Exception as err:
            if is_outage(err):
                logger.warning("Telegram Bot API unreachable in %s (%s)", handler.__name__, one_line(err))
            else:
                logger.exception("Unexpected error in %s", handler.__name__)
            await reply(update, texts.SERVICE_PROBLEM)

    return run


def is_outage(error: BaseException) -> bool:
    """The Bot API unreachable or failing (NetworkError, TimedOut is one): weather, not a bug. PTB's BadRequest is
    a NetworkError too, but it means our request was wrong."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def one_line(error: BaseException) -> str:
    """An exception as one short line: its class and the first line of its message (never a traceback)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


MAX_MESSAGE = 4096


def fit(text: str) -> str:
    """Never let a message exceed Telegram's limit (it would be refused and the trader would get nothing): cut at a
    paragraph break and say so. Views are sized to stay well below it; this is the last guard."""
    if len(text) <= MAX_MESSAGE - 100:
        return text
    cut = text.rfind("\n\n", 0, MAX_MESSAGE - 200)
    logger.warning("A %d-character reply was shortened to fit Telegram's limit", len(text))
    return text[:cut if cut > 0 else MAX_MESSAGE - 200] + "\n\n…(shortened: too long for one message)"


# Whether the user of the update being handled trades on paper: set once per update, before any handler
# (``paper.load_mode``), and read by ``reply`` and ``edit`` so that every screen says so while it is on. Each update
# is handled in a task of its own, so the value never leaks from one user's update into another's.
PAPER_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar("paper_mode", default=False)


def on_paper() -> bool:
    """The mode of the update being handled (the trader's /paper, or the operator's PAPER_TRADING)."""
    return PAPER_MODE.get()


def _marked(text: str) -> str:
    return texts.PAPER_BANNER + text if PAPER_MODE.get() else text


async def reply(update: Update, text: str, *, reply_markup=None) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    text = fit(_marked(text))
    try:
        return await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=reply_markup,
                                        disable_web_page_preview=True)
    except TelegramError as err:
        logger.warning("Could not send a reply (%s)", one_line(err))
        return None


async def edit(message: Message, text: str, *, reply_markup=None) -> None:
    try:
        await message.edit_text(fit(_marked(text)), parse_mode=ParseMode.HTML, reply_markup=reply_markup,
                                disable_web_page_preview=True)
    except TelegramError as err:
        logger.warning("Could not edit a message (%s)", one_line(err))


async def throttle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every other handler: drop a user's updates past the rate limit, telling them once."""
    user = update.effective_user
    if user is None:
        return
    bot = deps(context)
    now = time.monotonic()
    window = bot.recent[user.id]
    while window and now - window[0] > bot.throttle_window_seconds:
        window.popleft()
    window.append(now)
    if len(window) > bot.throttle_limit:
        if len(window) == bot.throttle_limit + 1:
            if update.callback_query:
                await answer_quietly(update.callback_query, texts.THROTTLED, show_alert=True)
            elif update.effective_chat is not None and update.effective_chat.type == Chat.PRIVATE:
                await reply(update, texts.THROTTLED)  # never in a group: everyone there would read it
        raise ApplicationHandlerStop


async def answer_quietly(query: CallbackQuery, text: str | None = None, *, show_alert: bool = False) -> bool:
    """Answer a button press if Telegram still takes the answer. Best-effort: the answer only stops the button's
    spinner (or shows a short alert), and Telegram refuses a late one ("query is too old", say after the bot was
    down), so a failed answer must never stop what the press does."""
    try:
        await query.answer(text, show_alert=show_alert or None)
    except TelegramError as err:
        logger.info("A button press was not answered: %s", err)
        return False
    return True


class TradeInProgress(TradingError):
    """A second trade of a user while one of theirs is running in this process."""

    code = "trade_in_progress"


class NotYours(TradingError):
    """A button pressed by someone it was not made for, or about a position that is gone."""

    code = "not_your_button"


def row_id(text: str) -> int:
    """A database id from a button's data; anything else (a forged 60-digit number would overflow the column) is
    not the presser's button."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise NotYours()
    return int(text)


class BookChanged(TradingError):
    """A button or a typed code made in one book (paper or real) used after the trader switched to the other."""

    code = "book_changed"

    def __init__(self, made_on_paper: bool) -> None:
        self.made_on_paper = made_on_paper
        super().__init__()


def ensure_book(made_on_paper: bool) -> None:
    """A button acts only in the book it was made in: never real money from a paper screen, nor the reverse."""
    if made_on_paper != PAPER_MODE.get():
        raise BookChanged(made_on_paper)


class OneTradeAtATime:
    """Refuse a second trade while one of the same user's is running in this process (row locks guard the rest)."""

    def __init__(self, context: ContextTypes.DEFAULT_TYPE, user_id: int) -> None:
        self._busy = deps(context).busy_users
        self._user_id = user_id

    def __enter__(self) -> OneTradeAtATime:
        if self._user_id in self._busy:
            raise TradeInProgress()
        self._busy.add(self._user_id)
        return self

    def __exit__(self, *exc) -> None:
        self._busy.discard(self._user_id)


