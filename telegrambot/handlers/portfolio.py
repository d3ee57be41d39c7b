"""Positions and wallet views."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from custody.selectors import scheduled_withdrawals
from kernel.chain.errors import ChainError
from kernel.db import db_call
from positions import paper as paper_book
from positions.selectors import list_positions, recent_snipes, token_decimals
from positions.services import load_trader
from telegrambot import keyboards, texts
from telegrambot.handlers.common import deps, guarded, on_paper, reply
from telegrambot.parsing import ParseError

PAGE_SIZE = 10  # ten position blocks and their buttons stay well inside Telegram's 4096 characters


@guarded
async def positions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isascii() and args[0].isdigit() and len(args[0]) <= 6)):
        raise ParseError(texts.POSITIONS_USAGE)
    await show_positions(update, context, page=int(args[0]) if args else 1)


async def show_positions(update: Update, context: ContextTypes.DEFAULT_TYPE, *, page: int = 1) -> None:
    trader = await db_call(load_trader)(update.effective_user.id)
    paper = on_paper()
    book = await db_call(paper_book.book)(trader.wallet, deps(context).config) if paper else None
    view = await list_positions(wallet=trader.wallet, jupiter=deps(context).jupiter, paper=paper,
                                since=book.started_at if book else None)
    pages = max(1, -(-len(view.positions) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    first = (page - 1) * PAGE_SIZE
    shown = view.positions[first:first + PAGE_SIZE]
    snipes = await recent_snipes(trader.wallet.pk, paper=paper) if page == 1 else None
    markup = keyboards.position_buttons([p.position_id for p in shown], first_index=first + 1, page=page,
                                        pages=pages) if shown else None
    await reply(update, texts.positions(view, snipes, shown=shown, first_index=first + 1, page=page, pages=pages,
                                        paper_balance=book.balance_lamports if book else None),
                reply_markup=markup)


@guarded
async def wallet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await show_wallet(update, context)


async def show_wallet(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    trader = await db_call(load_trader)(update.effective_user.id)
    rpc = deps(context).rpc
    public_key = trader.wallet.public_key
    try:
        balance = await rpc.sol_balance(public_key)
        raw_balances = await rpc.token_balances(public_key)
    except ChainError:
        balance, raw_balances = None, {}
    decimals = await token_decimals(trader.wallet.pk)
    holdings = [(mint, texts.tokens(raw, decimals[mint]) if mint in decimals else texts.raw_units(raw))
                for mint, raw in sorted(raw_balances.items()) if raw > 0]
    scheduled = await db_call(scheduled_withdrawals)(trader.wallet)
    book = await db_call(paper_book.book)(trader.wallet, deps(context).config) if on_paper() else None
    await reply(update, texts.wallet(public_key=public_key, balance_lamports=balance, holdings=holdings,
                                     scheduled=scheduled, paper_balance=book.balance_lamports if book else None),
                reply_markup=keyboards.wallet_menu([w.pk for w in scheduled]))
