"""Money leaving the wallet: withdrawals and key export. Both go through a confirmation button, then the second
factor when the user has one; large withdrawals wait (cancellable); the exported key is deleted from the chat. Each
handler parses, makes one call to the money-out service (``custody.money_out``) and words the result (``texts``)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from custody import audit
from custody.money_out import WithdrawalScheduled
from kernel.errors import UserFacingError
from positions.trading import Step
from telegrambot import conversation, keyboards, pending, texts
from telegrambot.handlers.common import OneTradeAtATime, deps, edit, guarded, on_paper, reply
from telegrambot.parsing import parse_withdraw_args
from telegrambot.sensitive import Kind, send_sensitive


@guarded
async def withdraw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = parse_withdraw_args(context.args or [])
    bot = deps(context)
    request = await bot.money_out.request_withdrawal(telegram_user_id=update.effective_user.id,
                                                     destination=args.address, lamports=args.lamports,
                                                     now=bot.clock.now(), source=audit.TELEGRAM)
    # The button names the row only: what is sent, and where, is read back from the database.
    nonce = await conversation.remember(update.effective_user.id, pending.Withdraw(request.withdrawal_id))
    await reply(update, texts.confirm_withdrawal(request, paper=on_paper()),
                reply_markup=keyboards.confirm(nonce, "Withdraw"))


async def run_withdrawal(update: Update, context: ContextTypes.DEFAULT_TYPE, action: pending.Withdraw) -> None:
    """After the confirmation button (and the code, when the user has a second factor)."""
    user_id = update.effective_user.id
    bot = deps(context)
    with OneTradeAtATime(context, user_id):
        now = bot.clock.now()
        will_wait = await bot.money_out.will_wait(telegram_user_id=user_id, withdrawal_id=action.withdrawal, now=now)
        status = None if will_wait else await reply(update, texts.progress(texts.STEPS[Step.SENDING]))
        try:
            outcome = await bot.money_out.confirm_withdrawal(telegram_user_id=user_id,
                                                             withdrawal_id=action.withdrawal, now=now,
                                                             source=audit.TELEGRAM)
        except UserFacingError as err:
            if status is None:
                raise
            # Checked again at sending (a trade may have spent the balance meanwhile): the progress message
            # becomes the refusal, rather than staying at "Sending…" forever.
            await edit(status, texts.refused(texts.refusal(err)))
            return
        if isinstance(outcome, WithdrawalScheduled):  # decided under the lock, whatever the guess above said
            markup = keyboards.cancel_withdrawal(outcome.withdrawal.pk)
            if status is None:
                await reply(update, texts.withdrawal_scheduled(outcome.withdrawal), reply_markup=markup)
            else:
                await edit(status, texts.withdrawal_scheduled(outcome.withdrawal), reply_markup=markup)
        elif status is not None:
            await edit(status, texts.withdrawal_done(outcome))


@guarded
async def export_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot = deps(context)
    await bot.money_out.check_key_export(telegram_user_id=update.effective_user.id, now=bot.clock.now(),
                                         source=audit.TELEGRAM)
    nonce = await conversation.remember(update.effective_user.id, pending.ExportKey())
    await reply(update, texts.export_warning(bot.key_message_seconds),
                reply_markup=keyboards.confirm(nonce, "Show my key"))


async def send_key(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the key in its own message, tracked for deletion; the secret is never logged or kept."""
    bot = deps(context)
    seconds = bot.key_message_seconds

    async def deliver(secret: str) -> None:
        await send_sensitive(context, update.effective_chat.id, texts.exported_key(secret, seconds),
                             kind=Kind.PRIVATE_KEY, seconds=seconds)

    await bot.money_out.export_key(telegram_user_id=update.effective_user.id, now=bot.clock.now(),
                                   source=audit.TELEGRAM, deliver=deliver)
