"""Money leaving the wallet: withdrawals and key export, both behind a confirmation button."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from positions.services import load_trader
from telegrambot import keyboards, texts
from telegrambot.handlers.common import OneTradeAtATime, deps, edit, guarded, remember, reply
from telegrambot.parsing import parse_withdraw_args
from tradingbot.db import db_call
from wallets.signing import export_secret_base58
from wallets.withdrawals import WithdrawalPlan, execute_withdrawal, plan_withdrawal

logger = logging.getLogger(__name__)
KEY_DELETION_JOB_PREFIX = "delete-key-"


@guarded
async def withdraw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = parse_withdraw_args(context.args or [])
    trader = await db_call(load_trader)(update.effective_user.id)
    plan = await plan_withdrawal(rpc=deps(context).rpc, wallet=trader.wallet, destination=args.address,
                                 lamports=args.lamports)
    nonce = remember(context, {"kind": "withdraw", "destination": plan.destination, "lamports": plan.lamports})
    await reply(update, texts.confirm_withdrawal(plan), reply_markup=keyboards.confirm(nonce, "Withdraw"))


async def run_withdrawal(update: Update, context: ContextTypes.DEFAULT_TYPE, action: dict) -> None:
    user_id = update.effective_user.id
    with OneTradeAtATime(context, user_id):
        trader = await db_call(load_trader)(user_id)
        status = await reply(update, texts.progress("Sending…"))
        plan = WithdrawalPlan(destination=action["destination"], lamports=action["lamports"], fee_lamports=0,
                              balance_lamports=0)
        result = await execute_withdrawal(rpc=deps(context).rpc, keyring=deps(context).keyring,
                                          wallet=trader.wallet, plan=plan)
        if status is not None:
            await edit(status, texts.withdrawal_done(result))


@guarded
async def export_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await db_call(load_trader)(update.effective_user.id)
    nonce = remember(context, {"kind": "export"})
    await reply(update, texts.EXPORT_WARNING, reply_markup=keyboards.confirm(nonce, "Show my key"))


async def send_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the key in its own message and schedule its deletion; the secret is never logged or kept."""
    trader = await db_call(load_trader)(update.effective_user.id)
    seconds = deps(context).key_message_seconds
    secret = export_secret_base58(wallet=trader.wallet, keyring=deps(context).keyring)
    message = await context.bot.send_message(update.effective_chat.id, texts.exported_key(secret, seconds),
                                             parse_mode=ParseMode.HTML)
    del secret
    context.job_queue.run_once(_delete_key_message, seconds, chat_id=message.chat_id, data=message.message_id,
                               name=f"{KEY_DELETION_JOB_PREFIX}{message.chat_id}-{message.message_id}")


async def _delete_key_message(context: ContextTypes.DEFAULT_TYPE) -> None:
    job = context.job
    try:
        await context.bot.delete_message(job.chat_id, job.data)
    except TelegramError:
        logger.warning("Could not delete an exported-key message (chat %s)", job.chat_id)
        return
    await context.bot.send_message(job.chat_id, texts.KEY_DELETED)
