"""Money leaving the wallet: withdrawals and key export. Both go through a confirmation button, then the second
factor when the user has one; large withdrawals wait (cancellable); the exported key is deleted from the chat."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Update
from telegram.ext import ContextTypes

from custody import audit, second_factor
from custody.policy import needs_delay
from custody.withdrawals import (
    WithdrawalPlan,
    confirm_withdrawal,
    ensure_key_export_allowed,
    plan_withdrawal,
    request_withdrawal,
)
from kernel.db import db_call
from kernel.errors import UserFacingError
from positions.services import load_trader
from telegrambot import conversation, keyboards, texts
from telegrambot.handlers.common import OneTradeAtATime, deps, edit, guarded, reply
from telegrambot.parsing import parse_withdraw_args
from telegrambot.sensitive import Kind, send_sensitive
from wallets.models import UserWallet, Withdrawal
from wallets.signing import export_secret_base58

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Guards:
    two_factor: bool
    first_withdrawal: bool
    delayed: bool


@guarded
async def withdraw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = parse_withdraw_args(context.args or [])
    bot = deps(context)
    trader = await db_call(load_trader)(update.effective_user.id)
    now = bot.clock.now()
    await db_call(second_factor.ensure_not_locked)(trader.wallet, now)
    plan = await plan_withdrawal(rpc=bot.rpc, wallet=trader.wallet, destination=args.address,
                                 lamports=args.lamports, now=now)
    guards = await db_call(_guards)(trader.wallet, plan, now)
    requested = await request_withdrawal(wallet=trader.wallet, plan=plan)
    # The button names the row only: what is sent, and where, is read back from the database.
    nonce = await conversation.remember(update.effective_user.id, {"kind": "withdraw", "withdrawal": requested.pk})
    delay = bot.config.custody.large_withdrawal_delay_seconds if guards.delayed else None
    await reply(update, texts.confirm_withdrawal(plan, two_factor=guards.two_factor,
                                                 recommend_two_factor=not guards.two_factor and guards.first_withdrawal,
                                                 delay_seconds=delay),
                reply_markup=keyboards.confirm(nonce, "Withdraw"))


def _guards(wallet: UserWallet, plan: WithdrawalPlan, now) -> Guards:
    audit.record(audit.Action.WITHDRAWAL_REQUESTED, actor=audit.trader(wallet.telegram_user_id,
                                                                       wallet.telegram_username),
                 source=audit.TELEGRAM, user=wallet, destination=plan.destination, lamports=plan.lamports)
    return Guards(two_factor=second_factor.is_enabled(wallet),
                  first_withdrawal=not Withdrawal.objects.filter(user=wallet).exclude(
                      status=Withdrawal.Status.REQUESTED).exists(),
                  delayed=needs_delay(wallet, plan.lamports, now))


async def run_withdrawal(update: Update, context: ContextTypes.DEFAULT_TYPE, action: dict) -> None:
    """After the confirmation button (and the code, when the user has a second factor)."""
    user_id = update.effective_user.id
    bot = deps(context)
    withdrawal_id = action.get("withdrawal")
    if type(withdrawal_id) is not int:  # an entry from before this release, or not written by this bot
        await reply(update, texts.EXPIRED_BUTTON)
        return
    with OneTradeAtATime(context, user_id):
        trader = await db_call(load_trader)(user_id)
        now = bot.clock.now()
        delay = bot.config.custody.large_withdrawal_delay_seconds
        likely_delayed = await db_call(_likely_delayed)(trader.wallet, withdrawal_id, now)
        status = None if likely_delayed else await reply(update, texts.progress("Sending…"))
        try:
            outcome = await confirm_withdrawal(rpc=bot.rpc, keyring=bot.keyring, wallet=trader.wallet,
                                               withdrawal_id=withdrawal_id, delay_seconds=delay, now=now)
        except UserFacingError as err:
            if status is None:
                raise
            # Checked again at sending (a trade may have spent the balance meanwhile): the progress message
            # becomes the refusal, rather than staying at "Sending…" forever.
            await edit(status, texts.refused(err.user_message))
            return
        if isinstance(outcome, Withdrawal):  # delayed: decided under the lock, whatever the guess above said
            markup = keyboards.cancel_withdrawal(outcome.pk)
            if status is None:
                await reply(update, texts.withdrawal_scheduled(outcome), reply_markup=markup)
            else:
                await edit(status, texts.withdrawal_scheduled(outcome), reply_markup=markup)
        elif status is not None:
            await edit(status, texts.withdrawal_done(outcome))


def _likely_delayed(wallet: UserWallet, withdrawal_id: int, now) -> bool:
    """A guess for the first message only ("Sending…" or not); the service decides under the user's lock."""
    lamports = Withdrawal.objects.filter(pk=withdrawal_id, user=wallet).values_list("lamports", flat=True).first()
    return lamports is not None and needs_delay(wallet, lamports, now)


@guarded
async def export_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    trader = await db_call(load_trader)(update.effective_user.id)
    now = deps(context).clock.now()
    await db_call(ensure_key_export_allowed)(trader.wallet, now)
    await db_call(second_factor.ensure_not_locked)(trader.wallet, now)
    nonce = await conversation.remember(update.effective_user.id, {"kind": "export"})
    await reply(update, texts.export_warning(deps(context).key_message_seconds),
                reply_markup=keyboards.confirm(nonce, "Show my key"))


async def send_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the key in its own message, tracked for deletion; the secret is never logged or kept."""
    trader = await db_call(load_trader)(update.effective_user.id)
    await db_call(ensure_key_export_allowed)(trader.wallet, deps(context).clock.now())  # again: time has passed
    seconds = deps(context).key_message_seconds
    secret = export_secret_base58(wallet=trader.wallet, keyring=deps(context).keyring)
    await send_sensitive(context, update.effective_chat.id, texts.exported_key(secret, seconds),
                         kind=Kind.PRIVATE_KEY, seconds=seconds)
    del secret
    wallet = trader.wallet
    await db_call(audit.record)(audit.Action.KEY_EXPORTED, actor=audit.trader(wallet.telegram_user_id,
                                                                              wallet.telegram_username),
                                source=audit.TELEGRAM, user=wallet)
