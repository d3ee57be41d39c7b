"""The user's own guards: two-step verification (/2fa), the withdrawal allow-list (/allowlist), the delay on large
withdrawals (/withdrawdelay), cancelling a delayed withdrawal, and typed codes for whatever asked for one."""

from __future__ import annotations

import time

from telegram import Update
from telegram.ext import ContextTypes

from custody import audit, policy, second_factor
from custody.withdrawals import cancel_withdrawal
from kernel.db import db_call
from positions.services import load_trader
from telegrambot import conversation, pending, texts
from telegrambot.handlers import money_out, trade
from telegrambot.handlers.common import deps, ensure_book, guarded, reply
from telegrambot.parsing import ParseError, parse_address, parse_sol
from telegrambot.sensitive import Kind, delete_sensitive, send_sensitive

CODE_TTL_SECONDS = 300


# Two-step verification.

@guarded
async def two_factor(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = [arg.lower() for arg in context.args or []]
    trader = await db_call(load_trader)(update.effective_user.id)
    enabled = await db_call(second_factor.is_enabled)(trader.wallet)
    if not args:
        reset_after = await db_call(second_factor.pending_reset)(trader.wallet) if enabled else None
        await reply(update, texts.two_factor_status(enabled, reset_after))
        return
    if args == ["on"]:
        if enabled:
            raise ParseError(texts.TWO_FACTOR_ALREADY_ON)
        bot = deps(context)
        setup = await db_call(second_factor.begin_setup)(trader.wallet, keyring=bot.keyring)
        message = await send_sensitive(context, update.effective_chat.id,
                                       texts.two_factor_setup(setup.secret_base32, setup.uri, bot.key_message_seconds),
                                       kind=Kind.TOTP_SETUP, seconds=bot.key_message_seconds)
        await conversation.ask_code(update.effective_user.id, pending.TwoFactorSetup(message.message_id))
        await reply(update, texts.ASK_SETUP_CODE)
        return
    if args == ["off"]:
        if not enabled:
            raise ParseError(texts.TWO_FACTOR_ALREADY_OFF)
        await db_call(second_factor.ensure_not_locked)(trader.wallet, deps(context).clock.now())
        await conversation.ask_code(update.effective_user.id, pending.TwoFactorOff())
        await reply(update, texts.ASK_CODE)
        return
    raise ParseError(texts.TWO_FACTOR_USAGE)


async def requires_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    trader = await db_call(load_trader)(update.effective_user.id)
    return await db_call(second_factor.is_enabled)(trader.wallet)


async def on_code(update: Update, context: ContextTypes.DEFAULT_TYPE, question: conversation.Question,
                  text: str) -> None:
    """A message typed while the bot waits for an authenticator code."""
    action = question.value
    if action is None:  # not an entry this bot writes (another release's, or planted)
        await reply(update, texts.EXPIRED_BUTTON)
        return
    if time.time() - question.asked_at > CODE_TTL_SECONDS:
        await reply(update, texts.code_request_expired(action.kind))
        return
    code = text.replace(" ", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        await reply(update, texts.not_a_code(action.kind))
        return
    bot = deps(context)
    trader = await db_call(load_trader)(update.effective_user.id)
    now = bot.clock.now()
    if isinstance(action, pending.TwoFactorSetup):
        try:
            await db_call(second_factor.confirm_setup)(trader.wallet, code, keyring=bot.keyring, now=now,
                                                       source=audit.TELEGRAM)
        except second_factor.CodeRefused:
            await _ask_again(update, question)  # let them type it again
            raise
        deleted = await delete_sensitive(context.bot, update.effective_chat.id, action.message_id,
                                         Kind.TOTP_SETUP)
        await reply(update, texts.TWO_FACTOR_ON if deleted else texts.TWO_FACTOR_ON_SETUP_NOT_DELETED)
        return
    try:
        await db_call(second_factor.verify)(trader.wallet, code, keyring=bot.keyring, now=now,
                                            policy=bot.config.custody, purpose=action.kind, source=audit.TELEGRAM)
    except second_factor.CodeRefused as refusal:
        if not refusal.locked:
            await _ask_again(update, question)
        raise
    match action:
        case pending.Withdraw():
            await money_out.run_withdrawal(update, context, action)
        case pending.ExportKey():
            await money_out.send_key(update, context)
        case pending.Buy(mint=mint, lamports=lamports):
            ensure_book(action.paper)
            await trade.run_buy(update, context, mint=mint, lamports=lamports, code_given=True, paper=action.paper)
        case pending.TwoFactorOff():
            await db_call(second_factor.disable)(trader.wallet, source=audit.TELEGRAM)
            await reply(update, texts.TWO_FACTOR_OFF)


async def _ask_again(update: Update, question: conversation.Question) -> None:
    """A wrong code: the same request waits for another try, its age unchanged."""
    await conversation.ask_code(update.effective_user.id, question.value, asked_at=question.asked_at)


# The allow-list and the large-withdrawal delay.

@guarded
async def allowlist(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    bot = deps(context)
    trader = await db_call(load_trader)(update.effective_user.id)
    now = bot.clock.now()
    delay = bot.config.custody.allowlist_delay_seconds
    command = args[0].lower() if args else ""
    if command == "add" and len(args) in (2, 3):
        address = parse_address(args[1], what="withdrawal address")
        entry = await db_call(policy.add_address)(trader.wallet, address, args[2] if len(args) == 3 else "",
                                                  now=now, delay_seconds=delay, source=audit.TELEGRAM)
        await reply(update, texts.allowlist_added(entry))
        return
    if command == "remove" and len(args) == 2:
        address = parse_address(args[1], what="withdrawal address")
        await db_call(policy.remove_address)(trader.wallet, address, source=audit.TELEGRAM)
        await reply(update, texts.allowlist_removed(address))
        return
    if command == "off" and len(args) == 1:
        when = await db_call(policy.request_allowlist_off)(trader.wallet, now=now, delay_seconds=delay,
                                                          source=audit.TELEGRAM)
        await reply(update, texts.allowlist_off(when))
        return
    if args:
        raise ParseError(texts.ALLOWLIST_USAGE)
    view = await db_call(policy.current)(trader.wallet, now)
    await reply(update, texts.allowlist(view, now))


@guarded
async def withdraw_delay(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    bot = deps(context)
    trader = await db_call(load_trader)(update.effective_user.id)
    now = bot.clock.now()
    delay = bot.config.custody.large_withdrawal_delay_seconds
    if not args:
        view = await db_call(policy.current)(trader.wallet, now)
        await reply(update, texts.withdraw_delay_status(view, delay))
        return
    if len(args) != 1:
        raise ParseError(texts.WITHDRAW_DELAY_USAGE)
    lamports = None if args[0].lower() == "off" else parse_sol(args[0], what="threshold")
    if lamports == 0:
        raise ParseError(texts.WITHDRAW_DELAY_ZERO)
    when = await db_call(policy.set_threshold)(trader.wallet, lamports, now=now,
                                               delay_seconds=bot.config.custody.allowlist_delay_seconds,
                                               source=audit.TELEGRAM)
    await reply(update, texts.withdraw_delay_set(lamports, when, delay))


async def cancel_button(update: Update, context: ContextTypes.DEFAULT_TYPE, withdrawal_id: str) -> None:
    """The Cancel button under a delayed withdrawal: only the owner's own, only before it is sent."""
    user = update.effective_user
    cancelled = withdrawal_id.isdigit() and await db_call(cancel_withdrawal)(
        int(withdrawal_id), actor=audit.trader(user.id, user.username or ""), source=audit.TELEGRAM,
        telegram_user_id=user.id)
    if cancelled:
        await reply(update, texts.WITHDRAWAL_CANCELLED)
    else:
        await reply(update, texts.refused(texts.WITHDRAWAL_NOT_CANCELLABLE))


