"""Typed trading errors. Each carries ``user_message``: what went wrong and what to do, safe to show a trader."""

from __future__ import annotations

from datetime import datetime

from kernel.display import sol as _sol
from kernel.display import tokens as _tokens
from kernel.errors import UserFacingError


class TradingError(UserFacingError):
    code = "trade_refused"
    user_message = "The trade could not be done; nothing was changed."


class TradingFrozen(TradingError):
    code = "trading_frozen"
    user_message = "Trading is paused on your account by the operators. Contact support if this is unexpected."


class InvalidMint(TradingError):
    code = "invalid_mint"

    def __init__(self, mint: str) -> None:
        shown = mint if len(mint) <= 50 else mint[:47] + "..."
        super().__init__(f"'{shown}' is not a Solana token address. Paste the token's mint address "
                         "(32–44 letters and digits, like DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263).")


class UnknownToken(TradingError):
    code = "unknown_token"

    def __init__(self, mint: str) -> None:
        super().__init__(f"No token exists at {mint}. Check the mint address (not a wallet or pool address).")


class TradeTooLarge(TradingError):
    code = "trade_too_large"

    def __init__(self, lamports: int, limit: int) -> None:
        super().__init__(f"{_sol(lamports)} is more than your maximum trade size of {_sol(limit)}. Buy at most "
                         f"{_sol(limit)}, or raise the limit in /settings.")


class DailyLossLimitReached(TradingError):
    code = "daily_loss_limit_reached"

    def __init__(self, lost: int, limit: int, resets_at: datetime) -> None:
        self.lost, self.limit, self.resets_at = lost, limit, resets_at
        super().__init__(f"Buying is paused: you have lost {_sol(lost)} today, reaching your daily loss limit of "
                         f"{_sol(limit)}. It resets at {resets_at:%H:%M} UTC ({resets_at:%Y-%m-%d}). "
                         "Selling is still allowed.")


class DailySpendCapReached(TradingError):
    code = "daily_spend_cap_reached"

    def __init__(self, *, lamports: int, cap: int, spent: int) -> None:
        self.lamports, self.cap, self.spent = lamports, cap, spent
        left = max(cap - spent, 0)
        super().__init__(f"This buy of {_sol(lamports)} would go over your daily spend cap of {_sol(cap)}: your buys "
                         f"of the last 24 hours spent {_sol(spent)}, so {_sol(left)} is left. Nothing was bought. "
                         "Buy at most what is left, or wait until earlier buys are more than 24 hours old.")


class InsufficientBalance(TradingError):
    code = "insufficient_balance"

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"Not enough SOL: this trade needs {_sol(needed)} including network fees and account "
                         f"rent, and your wallet holds {_sol(available)}. Deposit SOL or buy a smaller amount.")


class NoOpenPosition(TradingError):
    code = "no_open_position"

    def __init__(self, mint: str) -> None:
        super().__init__(f"You have no open position in {mint}. /positions lists what you hold.")


class SellAmountTooLarge(TradingError):
    code = "sell_amount_too_large"

    def __init__(self, requested: int, available: int, decimals: int, reserved: int = 0) -> None:
        pending = f" ({_tokens(reserved, decimals)} more are being sold right now)" if reserved else ""
        super().__init__(f"You asked to sell {_tokens(requested, decimals)} but hold "
                         f"{_tokens(available, decimals)} available{pending}. Sell at most that, or use 'all'.")


class AlreadySelling(TradingError):
    code = "already_selling"
    user_message = "Everything in this position is already being sold. Wait for that sale to finish."


class SellAmountTooSmall(TradingError):
    code = "sell_amount_too_small"

    def __init__(self) -> None:
        super().__init__("That amount is smaller than the token's smallest unit, so there is nothing to sell. "
                         "Use a larger amount, a percentage like 50%, or 'all'.")


class InvalidAmount(TradingError):
    code = "invalid_amount"


class TradeFailed(TradingError):
    """The transaction was sent but did not go through; ``signature`` names it."""

    code = "trade_failed"

    def __init__(self, user_message: str, signature: str = "") -> None:
        self.signature = signature
        super().__init__(user_message)


class ServiceUnavailable(TradingError):
    """The chain or the swap API failed before anything was sent."""

    code = "service_unavailable"


class TokenRefused(TradingError):
    """Screening found a way for the token's creator to take or lock holders' funds."""

    code = "token_refused"

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("This token was refused before anything was sent: " + "; ".join(reasons) + ". Buying it "
                         "could leave you unable to sell. Nothing was changed.")


class DuplicateTrade(TradingError):
    code = "duplicate_trade"
    user_message = ("An identical trade was sent a moment ago and is still on its way, so this one was not sent. "
                    "Check /positions in a few seconds; repeat it then if you still want it.")
