"""What a sell asks for: everything, a percentage, or a token amount; turned into raw units exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from kernel.money import AmountError, parse_decimal, percent_of, tokens_to_raw
from positions.errors import InvalidAmount, SellAmountTooSmall


class SellKind(Enum):
    ALL = "all"
    PERCENT = "percent"
    TOKENS = "tokens"


@dataclass(frozen=True)
class SellAmount:
    kind: SellKind
    value: Decimal | None = None

    @classmethod
    def all(cls) -> SellAmount:
        return cls(SellKind.ALL)

    @classmethod
    def percent(cls, value: Decimal | int | str) -> SellAmount:
        return cls(SellKind.PERCENT, Decimal(value))

    @classmethod
    def tokens(cls, value: Decimal | int | str) -> SellAmount:
        return cls(SellKind.TOKENS, Decimal(value))

    @classmethod
    def parse(cls, text: str) -> SellAmount:
        """Read ``all``, ``N%`` or a token amount; ``InvalidAmount`` says which of them was meant and what is wrong."""
        cleaned = text.strip().lower()
        if cleaned in {"all", "max", "100%"}:
            return cls.all()
        if cleaned.endswith("%"):
            try:
                value = parse_decimal(cleaned[:-1])
            except AmountError as err:
                raise InvalidAmount(InvalidAmount.Kind.PERCENT_UNREADABLE, problem=err.problem) from None
            if value > 100:
                raise InvalidAmount(InvalidAmount.Kind.PERCENT_OVER_100)
            if value < Decimal("0.01"):
                raise InvalidAmount(InvalidAmount.Kind.PERCENT_BELOW_MINIMUM)
            return cls.percent(value)
        try:
            return cls.tokens(parse_decimal(cleaned))
        except AmountError as err:
            raise InvalidAmount(InvalidAmount.Kind.SELL_AMOUNT_UNREADABLE, problem=err.problem) from None

    def to_raw(self, *, remaining_raw: int, decimals: int) -> int:
        """Raw units this asks for out of ``remaining_raw``; never more than asked, rounded down."""
        if self.kind is SellKind.ALL:
            raw = remaining_raw
        elif self.kind is SellKind.PERCENT:
            raw = remaining_raw if self.value == 100 else percent_of(remaining_raw, self.value)
        else:
            try:
                raw = tokens_to_raw(self.value, decimals)
            except AmountError as err:
                raise InvalidAmount(InvalidAmount.Kind.SELL_AMOUNT_UNUSABLE, problem=err.problem) from None
        if raw <= 0:
            raise SellAmountTooSmall()
        return raw

    def __str__(self) -> str:
        if self.kind is SellKind.ALL:
            return "all"
        suffix = "%" if self.kind is SellKind.PERCENT else ""
        return f"{self.value:f}{suffix}"
