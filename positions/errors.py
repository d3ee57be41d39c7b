"""Typed trading errors. Each carries data (its ``code`` and typed attributes); ``telegrambot.texts.refusal`` words
it for a trader."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from kernel.errors import UserFacingError


class TradingError(UserFacingError):
    code = "trade_refused"


class TradingFrozen(TradingError):
    code = "trading_frozen"


class InvalidMint(TradingError):
    code = "invalid_mint"

    def __init__(self, mint: str) -> None:
        self.mint = mint
        super().__init__()


class WrappedSolMint(TradingError):
    """The mint given is wrapped SOL itself, the other side of every trade."""

    code = "wrapped_sol_mint"


class UnknownToken(TradingError):
    code = "unknown_token"

    def __init__(self, mint: str) -> None:
        self.mint = mint
        super().__init__()


class TradeTooLarge(TradingError):
    code = "trade_too_large"

    def __init__(self, lamports: int, limit: int) -> None:
        self.lamports, self.limit = lamports, limit
        super().__init__()


class DailyLossLimitReached(TradingError):
    code = "daily_loss_limit_reached"

    def __init__(self, lost: int, limit: int, resets_at: datetime) -> None:
        self.lost, self.limit, self.resets_at = lost, limit, resets_at
        super().__init__()


class DailySpendCapReached(TradingError):
    code = "daily_spend_cap_reached"

    def __init__(self, *, lamports: int, cap: int, spent: int) -> None:
        self.lamports, self.cap, self.spent = lamports, cap, spent
        super().__init__()

    @property
    def left(self) -> int:
        return max(self.cap - self.spent, 0)


class InsufficientBalance(TradingError):
    code = "insufficient_balance"

    def __init__(self, needed: int, available: int) -> None:
        self.needed, self.available = needed, available
        super().__init__()


class NoOpenPosition(TradingError):
    code = "no_open_position"

    def __init__(self, mint: str) -> None:
        self.mint = mint
        super().__init__()


class SellAmountTooLarge(TradingError):
    code = "sell_amount_too_large"

    def __init__(self, requested: int, available: int, decimals: int, reserved: int = 0) -> None:
        self.requested, self.available, self.decimals, self.reserved = requested, available, decimals, reserved
        super().__init__()


class AlreadySelling(TradingError):
    code = "already_selling"


class PositionChanged(TradingError):
    """Another sale of the position landed while this one was starting: nothing was sold; it holds less now."""

    code = "position_changed"

    def __init__(self, remaining_raw: int, decimals: int) -> None:
        self.remaining_raw, self.decimals = remaining_raw, decimals
        super().__init__()


class SellAmountTooSmall(TradingError):
    code = "sell_amount_too_small"


class ChainShortfall(TradingError):
    """The wallet holds fewer tokens on chain than the position records: the sale is stopped and operators alerted."""

    code = "chain_shortfall"


class MevProtectionUnavailable(TradingError):
    """The trader's MEV protection is on, but no block engine is configured (any more): nothing is sent in the open
    that the trader asked to keep out of it."""

    code = "mev_protection_unavailable"


class InvalidAmount(TradingError):
    """An amount that cannot be traded. ``problem`` is ``AmountError.problem`` (half a sentence) when there is one."""

    code = "invalid_amount"

    class Kind(Enum):
        PERCENT_UNREADABLE = "percent_unreadable"
        PERCENT_OVER_100 = "percent_over_100"
        PERCENT_BELOW_MINIMUM = "percent_below_minimum"
        SELL_AMOUNT_UNREADABLE = "sell_amount_unreadable"
        SELL_AMOUNT_UNUSABLE = "sell_amount_unusable"  # readable, but not in the token's units
        BUY_NOT_POSITIVE = "buy_not_positive"

    def __init__(self, kind: InvalidAmount.Kind, *, problem: str = "") -> None:
        self.kind, self.problem = kind, problem
        super().__init__()


class TradeFailed(TradingError):
    """The transaction was sent but did not go through, or its outcome cannot be read yet; ``signature`` names it."""

    code = "trade_failed"

    class Reason(Enum):
        REJECTED = "rejected"  # ``rejection`` says why
        STATUS_UNKNOWN = "status_unknown"
        DETAILS_PENDING = "details_pending"
        EXPIRED = "expired"

    def __init__(self, reason: TradeFailed.Reason, signature: str = "", *,
                 rejection: UserFacingError | None = None) -> None:
        self.reason, self.signature, self.rejection = reason, signature, rejection
        super().__init__()


class ServiceUnavailable(TradingError):
    """The chain or the swap API failed before anything was sent; ``cause`` is their error, when there is one."""

    code = "service_unavailable"

    def __init__(self, cause: UserFacingError | None = None) -> None:
        self.cause = cause
        super().__init__(str(cause) if cause is not None else "")


class TokenRefused(TradingError):
    """Screening found a way for the token's creator to take or lock holders' funds."""

    code = "token_refused"

    def __init__(self, reasons: tuple[str, ...]) -> None:
        self.reasons = reasons
        super().__init__()


class DuplicateTrade(TradingError):
    code = "duplicate_trade"


class PaperBalanceTooLow(TradingError):
    """A paper trade needs more virtual SOL than the paper book holds."""

    code = "paper_balance_too_low"

    def __init__(self, needed: int, available: int) -> None:
        self.needed, self.available = needed, available
        super().__init__()


class PaperBookInUse(TradingError):
    """A paper reset while the paper book still holds positions or orders: it starts an empty book."""

    code = "paper_book_in_use"

    def __init__(self, positions: int, orders: int) -> None:
        self.positions, self.orders = positions, orders
        super().__init__()


class RealTradingOff(TradingError):
    """A real trade on a bot the operator runs on paper only (PAPER_TRADING=true): nothing may be signed or sent."""

    code = "real_trading_off"
