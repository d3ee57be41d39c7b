"""The settings' vocabulary, in one table: for each setting a trader can change, its label (buttons, replies), the
names /set accepts, the question the bot asks for it, and how a typed value is read. The domain knows the same
settings by key (``custody.services.SETTING_FIELDS``); a test holds the two to the same keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from telegrambot import parsing


@dataclass(frozen=True)
class SettingWords:
    key: str
    label: str
    names: tuple[str, ...]  # what /set accepts, lower case; the first is the one shown in the list of names
    read: Callable[[str, str], object]  # (typed text, label) -> the value, or ParseError
    prompt: str = ""  # the question after its button; a toggle has none (its button flips it)

    @property
    def toggle(self) -> bool:
        return not self.prompt


def _sol(text: str, label: str):
    return parsing.parse_positive_sol(text, name=label)


SETTINGS = (
    SettingWords("slippage", "Slippage", ("slippage",), lambda text, label: parsing.parse_slippage_bps(text),
                 "Send the slippage tolerance in percent, from 0.01 to 50 (e.g. 1.5)."),
    SettingWords("max_trade", "Max trade size", ("maxtrade", "max_trade"), _sol,
                 "Send the largest single buy in SOL (e.g. 0.5)."),
    SettingWords("daily_loss", "Daily loss limit", ("dailyloss", "daily_loss"), _sol,
                 "Send the daily loss limit in SOL (e.g. 1)."),
    SettingWords("stop_loss", "Stop loss", ("stoploss", "stop_loss", "sl"),
                 lambda text, label: parsing.parse_percentage_or_off(text, name=label, high=Decimal(99)),
                 "Send the stop loss in percent below cost, from 0.1 to 99 (e.g. 20), or 'off'."),
    SettingWords("take_profit", "Take profit", ("takeprofit", "take_profit", "tp"),
                 lambda text, label: parsing.parse_percentage_or_off(text, name=label, high=Decimal(10_000)),
                 "Send the take profit in percent above cost, from 0.1 to 10000 (e.g. 50), or 'off'."),
    SettingWords("snipe_amount", "Snipe amount", ("snipeamount", "snipe_amount"), _sol,
                 "Send the SOL amount each snipe buys (e.g. 0.05)."),
    SettingWords("priority_fee", "Priority fee", ("priorityfee", "priority_fee", "fee"),
                 lambda text, label: parsing.parse_priority_fee(text),
                 "Send the priority fee in SOL, up to 0.01 (e.g. 0.0001), or 0."),
    SettingWords("fee_level", "Fee level", ("feelevel", "fee_level"),
                 lambda text, label: parsing.parse_fee_level(text),
                 "Send fixed (always your priority fee), fast or turbo (the market's going rate, 75th or 95th "
                 "percentile, never above your priority fee)."),
    SettingWords("daily_spend", "Daily spend cap", ("dailyspend", "daily_spend", "spendcap"), _sol,
                 "Send the most SOL your buys may spend in 24 hours (e.g. 2)."),
    SettingWords("buy_code_above", "Code for buys above", ("buycode", "buycodeabove", "buy_code_above"),
                 lambda text, label: parsing.parse_sol_or_off(text, name=label),
                 "With /2fa on, buys above this many SOL ask for a code. Send an amount (e.g. 0.5), or 'off'."),
    SettingWords("buy_code_slippage", "Code above slippage", ("buycodeslippage", "buy_code_slippage"),
                 lambda text, label: parsing.parse_slippage_bps_or_off(text, name=label),
                 "With /2fa on, buys at a slippage above this percent ask for a code. Send a percent (e.g. 3), "
                 "or 'off'."),
    SettingWords("jito_tip", "MEV tip", ("tip", "mevtip", "jitotip", "jito_tip"),
                 lambda text, label: parsing.parse_tip(text),
                 "Send the tip each MEV-protected trade pays the block engine, in SOL, from 0.000001 to 0.01 "
                 "(e.g. 0.0001). It is paid instead of the priority fee."),
    SettingWords("auto_buy", "Auto-buy", ("autobuy", "auto_buy"),
                 lambda text, label: parsing.parse_sol_or_off(text, name=label, allow_zero=False),
                 "Send the SOL amount a pasted token address buys at once, instead of showing its card (e.g. 0.1), "
                 "or 'off'. It is never above your max trade size."),
    SettingWords("snipe", "Sniping", ("snipe",), lambda text, label: parsing.parse_on_off(text, name=label)),
    SettingWords("confirm", "Confirm trades", ("confirm", "confirmtrades", "confirm_trades"),
                 lambda text, label: parsing.parse_on_off(text, name=label)),
    SettingWords("mev_protection", "MEV protection", ("mev", "mevprotection", "mev_protection"),
                 lambda text, label: parsing.parse_on_off(text, name=label)),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}
BY_NAME = {name: setting for setting in SETTINGS for name in setting.names}
NAMES = ", ".join(setting.names[0] for setting in SETTINGS)


def label(key: str) -> str:
    setting = BY_KEY.get(key)
    return setting.label if setting else key


def read(key: str, text: str):
    """A typed value for the setting ``key``, as the domain takes it; ParseError says what to type instead."""
    setting = BY_KEY[key]
    return setting.read(text, setting.label)
