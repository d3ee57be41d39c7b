"""Orders: /limit, /trail and /dca typed, or asked for by a token card's buttons; /orders with its Cancel buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from kernel.db import db_call
from positions.order_errors import OrderNotFound
from positions.order_placing import (
    place_dca,
    place_dca_sell,
    place_limit_buy,
    place_limit_sell,
    place_trailing_stop,
)
from positions.order_services import cancel_order, live_orders
from positions.selectors import open_position_mint
from telegrambot import conversation, keyboards, texts
from telegrambot.handlers.common import NotYours, deps, ensure_book, guarded, reply, row_id
from telegrambot.parsing import looks_like_address, parse_dca_args, parse_limit_args, parse_trail_args

MAX_LISTED = 30  # a line each: well inside one message


@guarded
async def limit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Place a limit buy or sell."""
    await _place(update, context, "l", context.args or [])


@guarded
async def trail(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Place a trailing stop on an open position."""
    await _place(update, context, "t", context.args or [])


@guarded
async def dca(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Place a DCA buy (a total in parts, one every interval) or a DCA sell (the position in parts)."""
    await _place(update, context, "d", context.args or [])


async def ask_order(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str, mint: str, *,
                    paper: bool = False) -> None:
    """A token card's Limit, Trailing or DCA button: ask for the rest of the order, to be typed next (in the book
    the card was made in, or not at all)."""
    if code not in keyboards.ORDER_BUTTONS or not looks_like_address(mint):
        await reply(update, texts.EXPIRED_BUTTON)
        return
    ensure_book(paper)
    await conversation.ask(update.effective_user.id, "order", f"{code}:{mint}")
    await reply(update, texts.ASK_ORDER[code])


async def position_orders(update: Update, context: ContextTypes.DEFAULT_TYPE, position_id: str) -> None:
    """A position's Orders button (/positions): the Limit, Trailing and DCA questions for its token. The position
    must be the pressing user's, whatever the button says."""
    found = await open_position_mint(update.effective_user.id, row_id(position_id))
    if found is None:
        raise NotYours()
    mint, paper = found
    ensure_book(paper)
    await reply(update, texts.order_kinds(mint), reply_markup=keyboards.order_kinds(mint, paper=paper))


async def answer_order(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, text: str) -> None:
    """The answer to a token card's order question: the command's words after the mint."""
    code, _, mint = str(question).partition(":")
    if code not in keyboards.ORDER_BUTTONS or not looks_like_address(mint):
        await reply(update, texts.EXPIRED_BUTTON)
        return
    await _place(update, context, code, [mint, *text.split()])


async def _place(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str, words: list[str]) -> None:
    bot, user_id = deps(context), update.effective_user.id
    if code == "l":
        args = parse_limit_args(words)
        if args.side == "buy":
            order = await place_limit_buy(bot.trading, telegram_user_id=user_id, mint=args.mint,
                                          lamports=args.lamports, trigger=args.trigger, expires_in=args.expires_in,
                                          now=bot.clock.now())
        else:
            order = await place_limit_sell(bot.trading, telegram_user_id=user_id, mint=args.mint, amount=args.amount,
                                           trigger=args.trigger, expires_in=args.expires_in, now=bot.clock.now())
    elif code == "t":
        trailing = parse_trail_args(words)
        order = await place_trailing_stop(bot.trading, telegram_user_id=user_id, mint=trailing.mint,
                                          percent=trailing.percent, activation_sol=trailing.activation_sol)
    else:
        plan = parse_dca_args(words)
        if plan.side == "sell":
            order = await place_dca_sell(bot.trading, telegram_user_id=user_id, mint=plan.mint, parts=plan.parts,
                                         interval_seconds=plan.interval_seconds, now=bot.clock.now())
        else:
            order = await place_dca(bot.trading, telegram_user_id=user_id, mint=plan.mint, lamports=plan.lamports,
                                    parts=plan.parts, interval_seconds=plan.interval_seconds, now=bot.clock.now())
    await reply(update, texts.order_placed(order))


@guarded
async def orders(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the trader's orders, a Cancel button each."""
    await show_orders(update, context)


async def show_orders(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    live = (await db_call(live_orders)(update.effective_user.id))[:MAX_LISTED]
    cancellable = [(index, o.pk) for index, o in enumerate(live, 1) if o.status == "active"]
    markup = keyboards.order_buttons(cancellable) if cancellable else None
    await reply(update, texts.orders_list(live), reply_markup=markup)


async def cancel_button(update: Update, context: ContextTypes.DEFAULT_TYPE, order_id: str) -> None:
    """A Cancel button: the order must belong to the user who pressed it, whatever the data says."""
    try:
        order = await db_call(cancel_order)(telegram_user_id=update.effective_user.id, order_id=row_id(order_id),
                                            now=deps(context).clock.now())
    except OrderNotFound:
        raise NotYours() from None
    await reply(update, texts.order_cancelled(order))
