"""Paper trading in the chat: /paper (status, on, off), the mode read once per update, and the way back to real
money, which shows the paper results and asks first."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from kernel.db import db_call
from positions import paper as paper_book
from positions.services import load_trader
from telegrambot import conversation, keyboards, pending, texts
from telegrambot.handlers.common import PAPER_MODE, deps, guarded, reply
from telegrambot.parsing import ParseError


async def load_mode(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any handler: whether this update's user trades on paper, for every screen to say so."""
    user = update.effective_user
    if user is not None:
        PAPER_MODE.set(await db_call(paper_book.mode_of)(user.id, deps(context).config))


@guarded
async def paper_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = [arg.lower() for arg in context.args or []]
    bot = deps(context)
    user_id = update.effective_user.id
    trader = await db_call(load_trader)(user_id)
    if not args:
        results = await db_call(paper_book.results)(trader.wallet, bot.config)
        await reply(update, texts.paper_status(on=PAPER_MODE.get(), results=results,
                                               operator=bot.config.paper_trading))
        return
    if args == ["on"]:
        if PAPER_MODE.get():
            raise ParseError(texts.PAPER_ALREADY_ON)
        await db_call(paper_book.set_mode)(telegram_user_id=user_id, paper=True, config=bot.config)
        await conversation.forget_question(user_id)  # a question asked for real money is not answered on paper
        PAPER_MODE.set(True)
        results = await db_call(paper_book.results)(trader.wallet, bot.config)
        await reply(update, texts.paper_on(results))
        return
    if args == ["off"]:
        if bot.config.paper_trading:
            raise ParseError(texts.PAPER_ONLY_BOT)
        if not PAPER_MODE.get():
            raise ParseError(texts.PAPER_ALREADY_OFF)
        results = await db_call(paper_book.results)(trader.wallet, bot.config)
        nonce = await conversation.remember(user_id, pending.PaperOff())
        await reply(update, texts.confirm_paper_off(results),
                    reply_markup=keyboards.confirm(nonce, "Trade with real SOL"))
        return
    if args == ["reset"]:
        before = await db_call(paper_book.reset)(telegram_user_id=user_id, config=bot.config)
        after = await db_call(paper_book.results)(trader.wallet, bot.config)
        await reply(update, texts.paper_reset(before, after))
        return
    raise ParseError(texts.PAPER_USAGE)


async def switch_to_real(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The confirmation of /paper off: from now on, trades spend the wallet's real SOL."""
    bot = deps(context)
    if bot.config.paper_trading:
        raise ParseError(texts.PAPER_ONLY_BOT)
    await db_call(paper_book.set_mode)(telegram_user_id=update.effective_user.id, paper=False, config=bot.config)
    await conversation.forget_question(update.effective_user.id)  # a paper question is never answered for real
    PAPER_MODE.set(False)
    await reply(update, texts.PAPER_OFF)
