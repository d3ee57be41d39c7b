"""Refusals of orders (placing, cancelling, firing). Data only; ``telegrambot.refusals`` words them."""

from __future__ import annotations

from enum import Enum

from positions.errors import TradingError


class OrderNotFound(TradingError):
    """No such order of this trader (or a button pressed by someone else)."""

    code = "order_not_found"


class OrderNotCancellable(TradingError):
    code = "order_not_cancellable"

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__()


class TooManyOrders(TradingError):
    code = "too_many_orders"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__()


class TriggerUnusable(TradingError):
    """The trigger as typed cannot become a price for this token."""

    code = "order_trigger_unusable"

    class Reason(Enum):
        NO_SUPPLY = "no_supply"  # a market cap, but the mint has no supply
        NO_PRICE = "no_price"  # "-20%" or a trailing stop, but no price for the token now
        OUT_OF_RANGE = "out_of_range"  # a price no token has (too many digits to hold)
        NO_ENTRY_PRICE = "no_entry_price"  # "2x" of a position with no recorded cost
        ALREADY_MET = "already_met"  # a limit sell below the price now, or a limit buy above it

    def __init__(self, reason: TriggerUnusable.Reason) -> None:
        self.reason = reason
        super().__init__()


class FiringClosed(TradingError):
    """The order firing behind a trade was settled meanwhile (released after a crash): nothing is sent for it."""

    code = "order_firing_closed"
