"""What a button or an authenticator code is waiting to do: one typed action per kind, never a dict keyed by a
string.

Actions are kept in the shared cache (``telegrambot.conversation``) as plain JSON, tagged with ``kind`` (the tags
are those earlier releases wrote, so a button pressed across an upgrade still works). ``load`` takes only what this
module would have written: anything else (another release's shape, a planted entry) is None, and the user is told
the button has expired. None of them holds money's truth: a withdrawal names its database row, whose destination
and amount the database keeps.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import ClassVar

from positions.amounts import SellAmount


@dataclass(frozen=True)
class Buy:
    """A buy awaiting its confirmation button, or the code a buy above the trader's code level asks for."""

    kind: ClassVar[str] = "buy"
    mint: str
    lamports: int
    paper: bool = False  # the book it was asked in: a confirmation never changes book (entries from before: real)


@dataclass(frozen=True)
class Sell:
    kind: ClassVar[str] = "sell"
    mint: str
    amount: str  # a SellAmount as the trader typed it ("all", "25%", "1000")
    paper: bool = False

    @property
    def sell_amount(self) -> SellAmount:
        return SellAmount.parse(self.amount)


@dataclass(frozen=True)
class Withdraw:
    kind: ClassVar[str] = "withdraw"
    withdrawal: int  # the requested row's id


@dataclass(frozen=True)
class ExportKey:
    kind: ClassVar[str] = "export"


@dataclass(frozen=True)
class TwoFactorSetup:
    """The first code from a new authenticator; the set-up message (holding the secret) is deleted after it."""

    kind: ClassVar[str] = "totp_setup"
    message_id: int


@dataclass(frozen=True)
class TwoFactorOff:
    kind: ClassVar[str] = "totp_off"


@dataclass(frozen=True)
class PaperOff:
    """Back from paper to real money, confirmed after seeing the paper results."""

    kind: ClassVar[str] = "paper_off"


@dataclass(frozen=True)
class Unreadable:
    """An entry was there but this release would not have written it (an older shape, or planted): never acted on,
    and the user is told the button has expired."""


Action = Buy | Sell | Withdraw | ExportKey | TwoFactorSetup | TwoFactorOff | PaperOff
KINDS: dict[str, type[Action]] = {cls.kind: cls for cls in (Buy, Sell, Withdraw, ExportKey, TwoFactorSetup,
                                                             TwoFactorOff, PaperOff)}
_TYPES = {"int": int, "str": str, "bool": bool}  # the field annotations (strings, under postponed evaluation)


def dump(action: Action) -> dict:
    return {"kind": action.kind, **asdict(action)}


def load(stored: object) -> Action | None:
    """The action behind a stored entry, or None if this release would not have written it."""
    if not isinstance(stored, dict) or not isinstance(stored.get("kind"), str):
        return None
    cls = KINDS.get(stored["kind"])
    if cls is None:
        return None
    values = {}
    for spec in fields(cls):
        if spec.name not in stored and spec.default is not MISSING:
            continue  # written before the field existed: its default is what it meant then
        value = stored.get(spec.name)
        if type(value) is not _TYPES[spec.type]:
            return None
        values[spec.name] = value
    return cls(**values)
