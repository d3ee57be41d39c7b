"""Settings: shown with buttons; a value is typed after tapping a setting, or given with /set name value."""

from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.ext import ContextTypes

from positions.errors import WalletNotFound
from positions.selectors import load_settings
from positions.services import set_position_threshold
from telegrambot import conversation, keyboards, parsing, texts
from telegrambot.handlers.common import guarded, reply
from telegrambot.parsing import ParseError
from tradingbot.db import db_call
from wallets.models import UserSettings
from wallets.services import toggle_setting, update_setting

PROMPTS = {
    "slippage": "Send the slippage tolerance in percent, from 0.01 to 50 (e.g. 1.5).",
    "max_trade": "Send the largest single buy in SOL (e.g. 0.5).",
    "daily_loss": "Send the daily loss limit in SOL (e.g. 1).",
    "stop_loss": "Send the stop loss in percent below cost, from 0.1 to 99 (e.g. 20), or 'off'.",
    "take_profit": "Send the take profit in percent above cost, from 0.1 to 10000 (e.g. 50), or 'off'.",
    "snipe_amount": "Send the SOL amount each snipe buys (e.g. 0.05).",
    "priority_fee": "Send the priority fee in SOL, up to 0.01 (e.g. 0.0001), or 0.",
}
ALIASES = {"slippage": "slippage", "maxtrade": "max_trade", "max_trade": "max_trade", "dailyloss": "daily_loss",
           "daily_loss": "daily_loss", "stoploss": "stop_loss", "stop_loss": "stop_loss", "sl": "stop_loss",
           "takeprofit": "take_profit", "take_profit": "take_profit", "tp": "take_profit",
           "snipeamount": "snipe_amount", "snipe_amount": "snipe_amount", "priorityfee": "priority_fee",
           "priority_fee": "priority_fee", "fee": "priority_fee", "snipe": "snipe", "confirm": "confirm",
           "confirmtrades": "confirm", "confirm_trades": "confirm"}


def parse_value(key: str, text: str):
    label = keyboards.SETTINGS.get(key) or keyboards.TOGGLES[key]
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
    return parsing.parse_positive_sol(text, name=label)


@guarded
async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await show_settings(update, context)


async def show_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    values = await load_settings(update.effective_user.id)
    await reply(update, texts.settings(values), reply_markup=keyboards.settings())


@guarded
async def set_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    args = context.args or []
    if len(args) != 2:
        raise ParseError("Usage: /set <name> <value>, e.g. /set slippage 1.5\nNames: slippage, maxtrade, dailyloss, "
                         "stoploss, takeprofit, snipe, snipeamount, priorityfee, confirm.")
    key = ALIASES.get(args[0].lower())
    if key is None:
        raise ParseError(f"There is no setting called '{args[0][:30]}'. Names: slippage, maxtrade, dailyloss, "
                         "stoploss, takeprofit, snipe, snipeamount, priorityfee, confirm.")
    await save(update, context, key, args[1])


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    await conversation.ask(update.effective_user.id, "setting", key)
    await reply(update, PROMPTS[key])


async def save(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, text: str) -> None:
    value = parse_value(key, text)
    await _change(update_setting, telegram_user_id=update.effective_user.id, key=key, value=value)
    label = keyboards.SETTINGS.get(key) or keyboards.TOGGLES[key]
    await reply(update, texts.setting_saved(label))
    await show_settings(update, context)


async def toggle(update: Update, context: ContextTypes.DEFAULT_TYPE, key: str) -> None:
    await _change(toggle_setting, telegram_user_id=update.effective_user.id, key=key)
    await show_settings(update, context)


async def _change(service, **kwargs) -> None:
    """Someone who never sent /start has no settings row: tell them to start, not that something broke."""
    try:
        await db_call(service)(**kwargs)
    except UserSettings.DoesNotExist:
        raise WalletNotFound() from None


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
