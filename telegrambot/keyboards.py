"""Inline keyboards. Callback data is short (Telegram allows 64 bytes) and parsed in one place: ``parse``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from telegram import InlineKeyboardButton as Button
from telegram import InlineKeyboardMarkup as Markup

from kernel.display import sol
from telegrambot import setting_words

BUY_PRESETS_LAMPORTS = (100_000_000, 500_000_000, 1_000_000_000)
SELL_PRESETS_PERCENT = (25, 50, 100)
MENU = {"buy": "Buy", "sell": "Sell", "pos": "Positions", "wal": "Wallet", "set": "Settings", "help": "Help",
        "ref": "Refresh"}


class Press(StrEnum):
    """What a button does, named once. The value is the short code in its callback data (Telegram allows 64 bytes),
    kept as issued: a button already in a chat must keep working."""

    MENU = "m"
    BUY = "b"
    BUY_CUSTOM = "bx"
    SELL = "s"
    CONFIRM = "ok"
    CANCEL = "no"
    SETTING = "set"
    TOGGLE = "tog"
    CANCEL_WITHDRAWAL = "wc"
    CANCEL_PENDING = "pc"
    PAGE = "pp"
    CANCEL_ORDER = "oc"
    ORDER = "or"
    POSITION_ORDERS = "po"
    # The token card's buttons as issued while the trader is on paper: they act only on paper.
    PAPER_BUY = "pb"
    PAPER_BUY_CUSTOM = "pbx"
    PAPER_ORDER = "por"


ARGUMENTS = {Press.MENU: 1, Press.BUY: 2, Press.BUY_CUSTOM: 1, Press.SELL: 2, Press.CONFIRM: 1, Press.CANCEL: 1,
             Press.SETTING: 1, Press.TOGGLE: 1, Press.CANCEL_WITHDRAWAL: 1, Press.CANCEL_PENDING: 1, Press.PAGE: 1,
             Press.CANCEL_ORDER: 1, Press.ORDER: 2, Press.POSITION_ORDERS: 1, Press.PAPER_BUY: 2,
             Press.PAPER_BUY_CUSTOM: 1, Press.PAPER_ORDER: 2}
ORDER_BUTTONS = {"l": "Limit", "t": "Trailing", "d": "DCA"}  # the guided order questions, by their code


@dataclass(frozen=True)
class Callback:
    kind: Press
    args: tuple[str, ...]


def _data(kind: Press, *args: object) -> str:
    return ":".join([kind.value, *map(str, args)])


def parse(data: str | None) -> Callback | None:
    """Split callback data into a kind and its arguments; None for anything we never issued."""
    if not data or len(data) > 64 or not data.isascii():
        return None
    code, *args = data.split(":")
    kind = Press(code) if code in Press._value2member_map_ else None
    if kind is None or ARGUMENTS[kind] != len(args) or not all(args):
        return None
    return Callback(kind, tuple(args))


def main_menu() -> Markup:
    keys = list(MENU.items())
    rows = [keys[0:2], keys[2:4], keys[4:6], keys[6:]]
    return Markup([[Button(label, callback_data=_data(Press.MENU, key)) for key, label in row] for row in rows])


def token_card(mint: str, *, paper: bool = False) -> Markup:
    """A token's Buy and order buttons; made on paper (``paper``), they act only on paper, and real ones only for
    real: a button pressed after /paper on or off is refused rather than trading in the other book."""
    buy, custom = (Press.PAPER_BUY, Press.PAPER_BUY_CUSTOM) if paper else (Press.BUY, Press.BUY_CUSTOM)
    buys = [Button(f"Buy {sol(lamports)}", callback_data=_data(buy, mint, lamports))
            for lamports in BUY_PRESETS_LAMPORTS]
    return Markup([buys, [Button("Buy X SOL", callback_data=_data(custom, mint))], _order_row(mint, paper)])


def order_kinds(mint: str, *, paper: bool = False) -> Markup:
    """The guided order questions for one token (a position's Orders button)."""
    return Markup([_order_row(mint, paper)])


def _order_row(mint: str, paper: bool) -> list[Button]:
    press = Press.PAPER_ORDER if paper else Press.ORDER
    return [Button(label, callback_data=_data(press, code, mint)) for code, label in ORDER_BUTTONS.items()]


def position_buttons(position_ids: list[int], *, first_index: int = 1, page: int = 1, pages: int = 1) -> Markup:
    rows = [[*(Button(f"#{index} Sell {pct}%", callback_data=_data(Press.SELL, position_id, pct))
               for pct in SELL_PRESETS_PERCENT),
             Button(f"#{index} Orders", callback_data=_data(Press.POSITION_ORDERS, position_id))]
            for index, position_id in enumerate(position_ids, start=first_index)]
    navigation = []
    if page > 1:
        navigation.append(Button("◀ Previous", callback_data=_data(Press.PAGE, page - 1)))
    refresh = _data(Press.PAGE, page) if pages > 1 else _data(Press.MENU, "pos")
    navigation.append(Button("Refresh", callback_data=refresh))
    if page < pages:
        navigation.append(Button("Next ▶", callback_data=_data(Press.PAGE, page + 1)))
    rows.append(navigation)
    return Markup(rows)


def confirm(nonce: str, label: str) -> Markup:
    return Markup([[Button(f"✅ {label}", callback_data=_data(Press.CONFIRM, nonce)),
                    Button("Cancel", callback_data=_data(Press.CANCEL, nonce))]])


def settings(*, pending: list[str] = ()) -> Markup:
    keys = [Button(setting.label, callback_data=_data(Press.SETTING, setting.key))
            for setting in setting_words.SETTINGS if not setting.toggle]
    toggles = [Button(f"Toggle {_in_sentence(setting.label)}", callback_data=_data(Press.TOGGLE, setting.key))
               for setting in setting_words.SETTINGS if setting.toggle]
    rows = [keys[i:i + 2] for i in range(0, len(keys), 2)] + [toggles[i:i + 2] for i in range(0, len(toggles), 2)]
    rows += [[_cancel_pending_button(key)] for key in pending]
    return Markup(rows)


def cancel_pending(key: str) -> Markup:
    return Markup([[_cancel_pending_button(key)]])


def _cancel_pending_button(key: str) -> Button:
    label = setting_words.label(key)
    return Button(f"Cancel the {label.lower()} change", callback_data=_data(Press.CANCEL_PENDING, key))


def cancel_withdrawal(withdrawal_id: int) -> Markup:
    return Markup([[Button("Cancel this withdrawal", callback_data=_data(Press.CANCEL_WITHDRAWAL, withdrawal_id))]])


def order_buttons(listed: list[tuple[int, int]]) -> Markup:
    """A Cancel button for each cancellable order in /orders, as (its number in the list, its id); two to a row."""
    keys = [Button(f"Cancel #{index}", callback_data=_data(Press.CANCEL_ORDER, pk)) for index, pk in listed]
    return Markup([keys[i:i + 2] for i in range(0, len(keys), 2)])


def wallet_menu(scheduled_ids: list[int]) -> Markup:
    """The main menu, below a Cancel button for each delayed withdrawal listed in /wallet (numbered as listed)."""
    cancel = [[Button(f"Cancel withdrawal {index}", callback_data=_data(Press.CANCEL_WITHDRAWAL, pk))]
              for index, pk in enumerate(scheduled_ids, 1)]
    return Markup(cancel + [list(row) for row in main_menu().inline_keyboard])


def _in_sentence(label: str) -> str:
    """A label as a sentence's word: "Sniping" -> "sniping", but an acronym stays ("MEV protection")."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]
