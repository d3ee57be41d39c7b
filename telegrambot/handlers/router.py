"""Buttons and free text: dispatched here to the area that owns them."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from telegrambot import conversation, keyboards, pending, setting_words, texts
from telegrambot.handlers import guard, money_out, orders, paper, portfolio, settings, start, trade
from telegrambot.handlers.common import answer_quietly, ensure_book, guarded, reply
from telegrambot.parsing import MAX_ARGUMENT_LENGTH, ParseError, looks_like_address, parse_sol, visible

logger = logging.getLogger(__name__)
MAX_TEXT = 4096


@guarded
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    # Answered alongside the press, not before it: a late or failed answer neither delays nor stops the action.
    answering = asyncio.create_task(answer_quietly(query))
    try:
        callback = keyboards.parse(query.data)
        if callback is None:
            await reply(update, texts.EXPIRED_BUTTON)
            return
        handler = _BUTTONS[callback.kind]
        await handler(update, context, *callback.args)
    finally:
        await answering


async def _menu(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    if key == "pos":
        await portfolio.show_positions(update, context)
    elif key == "wal" or key == "ref":
        await portfolio.show_wallet(update, context)
    elif key == "set":
        await settings.show_settings(update, context)
    elif key == "buy":
        await reply(update, texts.ASK_BUY_MINT)
    elif key == "sell":
        await portfolio.show_positions(update, context)
    else:
        await reply(update, texts.HELP, reply_markup=keyboards.main_menu())


async def _buy_preset(update: Update, context: ContextTypes.DEFAULT_TYPE, mint: str, lamports: str, *,
                      paper: bool = False) -> None:
    if not lamports.isdigit() or int(lamports) not in keyboards.BUY_PRESETS_LAMPORTS or not looks_like_address(mint):
        await reply(update, texts.EXPIRED_BUTTON)
        return
    ensure_book(paper)
    await trade.start_buy(update, context, mint=mint, lamports=int(lamports))


async def _buy_custom(update: Update, context: ContextTypes.DEFAULT_TYPE, mint: str, *, paper: bool = False) -> None:
    if not looks_like_address(mint):
        await reply(update, texts.EXPIRED_BUTTON)
        return
    ensure_book(paper)
    await conversation.ask(update.effective_user.id, "buy_mint", mint)
    await reply(update, texts.ASK_BUY_AMOUNT)


async def _confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE, nonce: str) -> None:
    action = await conversation.recall(update.effective_user.id, nonce)
    if action is None:
        await reply(update, texts.NOT_YOURS)
        return
    await _clear_buttons(update)
    if isinstance(action, pending.Buy | pending.Sell):
        ensure_book(action.paper)  # asked in one book, pressed after switching to the other: refused, and spent
    match action:
        case pending.Buy(mint=mint, lamports=lamports):
            await trade.run_buy(update, context, mint=mint, lamports=lamports, paper=action.paper)
        case pending.Sell(mint=mint):
            await trade.run_sell(update, context, mint=mint, amount=action.sell_amount, paper=action.paper)
        case pending.PaperOff():
            await paper.switch_to_real(update, context)
        case pending.Withdraw() | pending.ExportKey() if await guard.requires_code(update, context):
            await conversation.ask_code(update.effective_user.id, action)
            await reply(update, texts.ASK_CODE)
        case pending.Withdraw():
            await money_out.run_withdrawal(update, context, action)
        case pending.ExportKey():
            await money_out.send_key(update, context)
        case _:  # a code's action behind a button: never issued as one
            await reply(update, texts.EXPIRED_BUTTON)


async def _cancelled(update: Update, context: ContextTypes.DEFAULT_TYPE, nonce: str) -> None:
    await conversation.recall(update.effective_user.id, nonce)
    await _clear_buttons(update)
    await reply(update, texts.CANCELLED)


async def _clear_buttons(update: Update) -> None:
    message = update.callback_query.message
    if message is not None:
        try:
            await message.edit_reply_markup(None)
        except TelegramError:
            logger.debug("Buttons already gone from message %s", message.message_id)


async def _setting(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    if key not in setting_words.BY_KEY or setting_words.BY_KEY[key].toggle:
        await reply(update, texts.EXPIRED_BUTTON)
        return
    await settings.ask(update, context, key)


async def _toggle(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    if key not in setting_words.BY_KEY or not setting_words.BY_KEY[key].toggle:
        await reply(update, texts.EXPIRED_BUTTON)
        return
    await settings.toggle(update, context, key)


_BUTTONS = {
    keyboards.Press.MENU: _menu,
    keyboards.Press.BUY: _buy_preset,
    keyboards.Press.BUY_CUSTOM: _buy_custom,
    keyboards.Press.SELL: lambda u, c, pid, pct: trade.sell_position_percent(u, c, position_id=pid, percent=pct),
    keyboards.Press.CONFIRM: _confirmed,
    keyboards.Press.CANCEL: _cancelled,
    keyboards.Press.SETTING: _setting,
    keyboards.Press.TOGGLE: _toggle,
    keyboards.Press.CANCEL_WITHDRAWAL: guard.cancel_button,
    keyboards.Press.CANCEL_PENDING: settings.cancel_pending,
    keyboards.Press.PAGE: lambda u, c, page: portfolio.show_positions(
        u, c, page=int(page) if page.isdigit() and len(page) < 7 else 1),
    keyboards.Press.CANCEL_ORDER: orders.cancel_button,
    keyboards.Press.ORDER: orders.ask_order,
    keyboards.Press.POSITION_ORDERS: orders.position_orders,
    keyboards.Press.PAPER_BUY: lambda u, c, mint, lamports: _buy_preset(u, c, mint, lamports, paper=True),
    keyboards.Press.PAPER_BUY_CUSTOM: lambda u, c, mint: _buy_custom(u, c, mint, paper=True),
    keyboards.Press.PAPER_ORDER: lambda u, c, code, mint: orders.ask_order(u, c, code, mint, paper=True),
}


@guarded
async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text: a value the bot asked for, a pasted mint address, or a hint."""
    text = update.effective_message.text or ""
    question = await conversation.answer(update.effective_user.id)
    if len(text) > MAX_TEXT - 1 or len(text.strip()) > 200:
        await reply(update, texts.TOO_LONG)  # and the question is dropped: start again
        return
    text = visible(text).strip()
    if question is not None and question.kind == "code":
        await guard.on_code(update, context, question, text)
        return
    if question is not None and question.kind == "setting":
        await settings.save(update, context, question.value, text)
        return
    if question is not None and question.kind == "order":
        await orders.answer_order(update, context, question.value, text)
        return
    if question is not None and question.kind == "buy_mint":
        await trade.start_buy(update, context, mint=question.value, lamports=parse_sol(text))
        return
    if looks_like_address(text) and len(text) <= MAX_ARGUMENT_LENGTH:
        await trade.paste_mint(update, context, text)
        return
    await reply(update, texts.FREE_TEXT)


@guarded
async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A sticker, a photo (a command in its caption is not a command), a voice note…: say what the bot reads. A
    caption that is a mint address (a screenshot shared with its address) shows that token's card. It never
    auto-buys: a photo is often forwarded from someone else, and only a mint the trader pasted spends on its own."""
    caption = visible(update.effective_message.caption or "").strip()
    if looks_like_address(caption):
        await trade.show_token_card(update, context, caption)
        return
    await reply(update, texts.NOT_TEXT)


@guarded
async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, texts.UNKNOWN_COMMAND)


__all__ = ["ParseError", "on_button", "on_text", "start", "unknown_command"]
