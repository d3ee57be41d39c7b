"""Settings: shown with buttons; a value is typed after tapping a setting, or given with /set name value."""

from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from custody import audit
from kernel.db import db_call
from positions import trade_policy
from positions.services import set_position_threshold
from telegrambot import conversation, keyboards, parsing, texts
from telegrambot.handlers.common import deps, guarded, reply
from telegrambot.parsing import ParseError

PROMPTS = {
    "slippage": "Send the slippage tolerance in percent, from 0.01 to 50 (e.g. 1.5).",
    "max_trade": "Send the largest single buy in SOL (e.g. 0.5).",
    "daily_loss": "Send the daily loss limit in SOL (e.g. 1).",
    "stop_loss": "Send the stop loss in percent below cost, from 0.1 to 99 (e.g. 20), or 'off'.",
    "take_profit": "Send the take profit in percent above cost, from 0.1 to 10000 (e.g. 50), or 'off'.",
    "snipe_amount": "Send the SOL amount each snipe buys (e.g. 0.05).",
    "priority_fee": "Send the priority fee in SOL, up to 0.01 (e.g. 0.0001), or 0.",
    "daily_spend": "Send the most SOL your buys may spend in 24 hours (e.g. 2).",
    "buy_code_above": "With /2fa on, buys above this many SOL ask for a code. Send an amount (e.g. 0.5), or 'off'.",
    "buy_code_slippage": "With /2fa on, buys at a slippage above this percent ask for a code. Send a percent "
                         "(e.g. 3), or 'off'.",
}
ALIASES = {"slippage": "slippage", "maxtrade": "max_trade", "max_trade": "max_trade", "dailyloss": "daily_loss",
           "daily_loss": "daily_loss", "stoploss": "stop_loss", "stop_loss": "stop_loss", "sl": "stop_loss",
           "takeprofit": "take_profit", "take_profit": "take_profit", "tp": "take_profit",
           "snipeamount": "snipe_amount", "snipe_amount": "snipe_amount", "priorityfee": "priority_fee",
           "priority_fee": "priority_fee", "fee": "priority_fee", "snipe": "snipe", "confirm": "confirm",
           "confirmtrades": "confirm", "confirm_trades": "confirm", "dailyspend": "daily_spend",
           "daily_spend": "daily_spend", "spendcap": "daily_spend", "buycode": "buy_code_above",
           "buycodeabove": "buy_code_above", "buy_code_above": "buy_code_above",
           "buycodeslippage": "buy_code_slippage", "buy_code_slippage": "buy_code_slippage"}
NAMES = ("slippage, maxtrade, dailyloss, dailyspend, stoploss, takeprofit, snipe, snipeamount, priorityfee, confirm, "
         "buycode, buycodeslippage")


def parse_value(key: str, text: str):
    label = _label(key)
    if key == "slippage":
        return parsing.parse_slippage_bps(text)
    if key == "stop_loss":
        return parsing.parse_percentage_or_off(text, name=label, high=Decimal(99))
    if key == "take_profit":
        return parsing.parse_percentage_or_off(text, name=label, high=Decimal(10_000))
    if key == "priority_fee":
        return parsing.parse_priority_fee(text)
    if key in ("snipe", "confirm"):
        return parsing.parse_on_off(text, name=label)
    if key == "buy_code_above":
        return parsing.parse_sol_or_off(text, name=label)
    if key == "buy_code_slippage":
        return parsing.parse_slippage_bps_or_off(text, name=label)
    return parsing.parse_positive_sol(text, name=label)


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
        raise ParseError(f"Usage: /set <name> <value>, e.g. /set slippage 1.5\nNames: {NAMES}.")
    key = ALIASES.get(args[0].lower())
    if key is None:
        raise ParseError(f"There is no setting called '{args[0][:30]}'. Names: {NAMES}.")
    await save(update, context, key, args[1])


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    await conversation.ask(update.effective_user.id, "setting", key)
    await reply(update, PROMPTS[key])


async def save(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, text: str) -> None:
    await _change(update, context, key, parse_value(key, text))


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
    await reply(update, texts.pending_cancelled(_label(key), cancelled))
    await show_settings(update, context)


async def _change(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, value) -> None:
    bot = deps(context)
    change = await db_call(trade_policy.change_setting)(telegram_user_id=update.effective_user.id, key=key,
                                                        value=value, now=bot.clock.now(), config=bot.config,
                                                        source=audit.TELEGRAM)
    if change.effective_at is None:
        await reply(update, texts.setting_saved(_label(key)))
    else:
        await reply(update, texts.setting_delayed(_label(key), change), reply_markup=keyboards.cancel_pending(key))
    await show_settings(update, context)


def _label(key: str) -> str:
    return keyboards.SETTINGS.get(key) or keyboards.TOGGLES[key]


@guarded
async def position_stop_loss(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _position_threshold(update, context, "stop_loss_percentage", "Stop loss", Decimal(99), "sl")


@guarded
async def position_take_profit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _position_threshold(update, context, "take_profit_percentage", "Take profit", Decimal(10_000), "tp")


async def _position_threshold(update, context, field: str, label: str, high: Decimal, command: str) -> None:
    args = context.args or []
    if len(args) != 2:
        raise ParseError(f"Usage: /{command} <token mint> <percent | off>, e.g. /{command} {parsing.EXAMPLE_MINT} 20\n"
                         f"Sets the {label.lower()} of that one position; 'off' follows your /settings again.")
    mint = parsing.parse_address(args[0])
    value = parsing.parse_percentage_or_off(args[1], name=label, high=high)
    await db_call(set_position_threshold)(telegram_user_id=update.effective_user.id, mint=mint, field=field,
                                          value=value)
    shown = "your default from /settings" if value is None else f"{texts.plain(value)}%"
    await reply(update, f"✅ {label} for this position: {shown}.")
