"""Inline keyboards. Callback data is short (Telegram allows 64 bytes) and parsed in one place: ``parse``."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton as Button
from telegram import InlineKeyboardMarkup as Markup

from kernel.display import sol

BUY_PRESETS_LAMPORTS = (100_000_000, 500_000_000, 1_000_000_000)
SELL_PRESETS_PERCENT = (25, 50, 100)
MENU = {"buy": "Buy", "sell": "Sell", "pos": "Positions", "wal": "Wallet", "set": "Settings", "help": "Help",
        "ref": "Refresh"}
SETTINGS = {
    "slippage": "Slippage", "max_trade": "Max trade size", "daily_loss": "Daily loss limit", "stop_loss": "Stop loss",
    "take_profit": "Take profit", "snipe_amount": "Snipe amount", "priority_fee": "Priority fee",
    "daily_spend": "Daily spend cap", "buy_code_above": "Code for buys above",
    "buy_code_slippage": "Code above slippage",
}
TOGGLES = {"snipe": "Sniping", "confirm": "Confirm trades"}


@dataclass(frozen=True)
class Callback:
    kind: str
    args: tuple[str, ...]


def parse(data: str | None) -> Callback | None:
    """Split callback data into a kind and its arguments; None for anything we never issued."""
    if not data or len(data) > 64 or not data.isascii():
        return None
    kind, *args = data.split(":")
    expected = {"m": 1, "b": 2, "bx": 1, "s": 2, "ok": 1, "no": 1, "set": 1, "tog": 1, "wc": 1, "pp": 1, "pc": 1}
    if expected.get(kind) != len(args) or not all(args):
        return None
    return Callback(kind, tuple(args))


def main_menu() -> Markup:
    keys = list(MENU.items())
    rows = [keys[0:2], keys[2:4], keys[4:6], keys[6:]]
    return Markup([[Button(label, callback_data=f"m:{key}") for key, label in row] for row in rows])


def token_card(mint: str) -> Markup:
    buys = [Button(f"Buy {sol(lamports)}", callback_data=f"b:{mint}:{lamports}") for lamports in BUY_PRESETS_LAMPORTS]
    return Markup([buys, [Button("Buy X SOL", callback_data=f"bx:{mint}")]])


def position_buttons(position_ids: list[int], *, first_index: int = 1, page: int = 1, pages: int = 1) -> Markup:
    rows = [[Button(f"#{index} Sell {pct}%", callback_data=f"s:{position_id}:{pct}")
             for pct in SELL_PRESETS_PERCENT] for index, position_id in enumerate(position_ids, start=first_index)]
    navigation = []
    if page > 1:
        navigation.append(Button("◀ Previous", callback_data=f"pp:{page - 1}"))
    navigation.append(Button("Refresh", callback_data=f"pp:{page}" if pages > 1 else "m:pos"))
    if page < pages:
        navigation.append(Button("Next ▶", callback_data=f"pp:{page + 1}"))
    rows.append(navigation)
    return Markup(rows)


def confirm(nonce: str, label: str) -> Markup:
    return Markup([[Button(f"✅ {label}", callback_data=f"ok:{nonce}"), Button("Cancel", callback_data=f"no:{nonce}")]])


def settings(*, pending: list[str] = ()) -> Markup:
    keys = [Button(label, callback_data=f"set:{key}") for key, label in SETTINGS.items()]
    toggles = [Button(f"Toggle {label.lower()}", callback_data=f"tog:{key}") for key, label in TOGGLES.items()]
    rows = [keys[i:i + 2] for i in range(0, len(keys), 2)] + [toggles]
    rows += [[_cancel_pending_button(key)] for key in pending]
    return Markup(rows)


def cancel_pending(key: str) -> Markup:
    return Markup([[_cancel_pending_button(key)]])


def _cancel_pending_button(key: str) -> Button:
    label = SETTINGS.get(key) or TOGGLES.get(key, key)
    return Button(f"Cancel the {label.lower()} change", callback_data=f"pc:{key}")


def cancel_withdrawal(withdrawal_id: int) -> Markup:
    return Markup([[Button("Cancel this withdrawal", callback_data=f"wc:{withdrawal_id}")]])


def wallet_menu(scheduled_ids: list[int]) -> Markup:
    """The main menu, below a Cancel button for each delayed withdrawal listed in /wallet (numbered as listed)."""
    cancel = [[Button(f"Cancel withdrawal {index}", callback_data=f"wc:{pk}")]
              for index, pk in enumerate(scheduled_ids, 1)]
    return Markup(cancel + [list(row) for row in main_menu().inline_keyboard])
