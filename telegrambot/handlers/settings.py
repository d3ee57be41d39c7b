"""Settings: shown with buttons; a value is typed after tapping a setting, or given with /set name value."""

from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from custody import audit
from kernel.db import db_call
from positions import trade_policy
from positions.services import set_position_threshold
from telegrambot import conversation, keyboards, parsing, setting_words, texts
from telegrambot.handlers.common import deps, guarded, on_paper, reply
from telegrambot.parsing import ParseError


@guarded
async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await show_settings(update, context)


async def show_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    bot = deps(context)
    view = await db_call(trade_policy.settings_view)(telegram_user_id=update.effective_user.id,
                                                     now=bot.clock.now(), config=bot.config)
    await reply(update, texts.settings(view),
                reply_markup=keyboards.settings(pending=[change.setting for change in view.pending]))


@guarded
async def set_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) != 2:
        raise ParseError(texts.set_usage(setting_words.NAMES))
    setting = setting_words.BY_NAME.get(args[0].lower())
    if setting is None:
        raise ParseError(texts.no_such_setting(args[0], setting_words.NAMES))
    await save(update, context, setting.key, args[1])


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    await conversation.ask(update.effective_user.id, "setting", key)
    await reply(update, setting_words.BY_KEY[key].prompt)


async def save(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, text: str) -> None:
    await _change(update, context, key, setting_words.read(key, text))


async def toggle(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    value = await db_call(trade_policy.toggled_value)(telegram_user_id=update.effective_user.id, key=key)
    await _change(update, context, key, value)


async def cancel_pending(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    """The Cancel button under a delayed loosening (in its announcement and in /settings)."""
    if key not in trade_policy.LOOSENS:
        await reply(update, texts.EXPIRED_BUTTON)
        return
    cancelled = await db_call(trade_policy.cancel_pending)(telegram_user_id=update.effective_user.id, key=key,
                                                           source=audit.TELEGRAM)
    await reply(update, texts.pending_cancelled(setting_words.label(key), cancelled))
    await show_settings(update, context)


async def _change(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, value) -> None:
    bot = deps(context)
    change = await db_call(trade_policy.change_setting)(telegram_user_id=update.effective_user.id, key=key,
                                                        value=value, now=bot.clock.now(), config=bot.config,
                                                        source=audit.TELEGRAM)
    label = setting_words.label(key)
    if change.effective_at is None:
        await reply(update, texts.setting_saved(label))
    else:
        await reply(update, texts.setting_delayed(label, change), reply_markup=keyboards.cancel_pending(key))
    await show_settings(update, context)


@guarded
async def position_stop_loss(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _position_threshold(update, context, "stop_loss_percentage", setting_words.label("stop_loss"),
                              Decimal(99), "sl")


@guarded
async def position_take_profit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _position_threshold(update, context, "take_profit_percentage",
                              setting_words.label("take_profit"), Decimal(10_000), "tp")


async def _position_threshold(update, context, field: str, label: str, high: Decimal, command: str) -> None:
    args = parsing.visible_args(context.args or [])
    if len(args) != 2:
        raise ParseError(texts.threshold_usage(command, label))
    mint = parsing.parse_address(args[0])
    value = parsing.parse_position_threshold(args[1], name=label, high=high)
    await db_call(set_position_threshold)(telegram_user_id=update.effective_user.id, mint=mint, field=field,
                                          value=value, paper=on_paper())
    await reply(update, texts.position_threshold_set(label, value))
