from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from custody.services import get_or_create_user_wallet
from kernel.chain.errors import ChainError
from kernel.db import db_call
from positions import paper as paper_book
from telegrambot import keyboards, texts
from telegrambot.handlers.common import deps, guarded, on_paper, reply


@guarded
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    bot = deps(context)
    result = await db_call(get_or_create_user_wallet)(user.id, user.username or "", keyring=bot.keyring,
                                                      config=bot.config)
    balance = await _balance_or_none(context, result.wallet.public_key)
    book = await db_call(paper_book.book)(result.wallet, bot.config) if on_paper() else None
    await reply(update, texts.welcome(public_key=result.wallet.public_key, balance_lamports=balance,
                                      created=result.created, paper_balance=book.balance_lamports if book else None),
                reply_markup=keyboards.main_menu())


@guarded
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, texts.HELP, reply_markup=keyboards.main_menu())


async def _balance_or_none(context: ContextTypes.DEFAULT_TYPE, public_key: str) -> int | None:
    try:
        return await deps(context).rpc.sol_balance(public_key)
    except ChainError:
        return None  # the wallet exists either way; the balance can be refreshed later
