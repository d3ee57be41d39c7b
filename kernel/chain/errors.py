"""Errors raised at the chain boundary. Messages are safe to show: they never contain keys or raw payloads."""

from __future__ import annotations

from kernel.errors import UserFacingError


class ChainError(UserFacingError):
    """Base class. The exception's text is the detail for the logs (a method, a status); ``user_message`` is what a
    trader may read."""

    code = "chain_error"
    user_message = "The Solana network did not answer as expected; nothing was changed. Please try again shortly."

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail)


class ChainUnavailable(ChainError):
    """The RPC node could not be reached or kept failing (timeouts, 429, 5xx) after retries."""

    code = "chain_unavailable"


class UnknownRpcError(ChainUnavailable):
    """The node answered with an error code solders does not know (it parses such an answer to the bare code), e.g. a
    provider's 429 inside an HTTP 200."""

    code = "rpc_error_unknown"

    def __init__(self, rpc_code: int) -> None:
        super().__init__(detail=f"RPC error {rpc_code}")
        self.rpc_code = rpc_code


class TransactionRejected(ChainError):
    """The node refused the transaction before it landed (preflight failure, bad blockhash)."""

    code = "transaction_rejected"

    def __init__(self, reason: str, logs: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs or []

    @property
    def is_slippage(self) -> bool:
        return _is_slippage(self.reason, self.logs)

    @property
    def user_message(self) -> str:  # type: ignore[override]
        if self.is_slippage:
            return "The price moved more than your slippage allows, so the swap was cancelled. Nothing was spent " \
                   "but the network fee. Try again, or raise your slippage in /settings."
        if "insufficient" in self.reason.lower() or any("insufficient" in line.lower() for line in self.logs):
            return "Your SOL balance is too low for this trade and its fees. Deposit SOL and try again."
        return "The network refused the transaction; nothing was changed. Please try again."


class JupiterError(UserFacingError):
    """The swap API refused a request. ``error_code`` is Jupiter's errorCode when it gave one; the exception's text
    is the detail for the logs."""

    code = "swap_api_refused"

    def __init__(self, detail: str, *, error_code: str = "", status: int = 0) -> None:
        super().__init__(detail=detail)
        self.error_code = error_code
        self.status = status

    @property
    def user_message(self) -> str:  # type: ignore[override]
        if self.error_code == "TOKEN_NOT_TRADABLE":
            return "This token cannot be traded (it is unknown to the swap router). Check the mint address."
        if self.error_code in {"COULD_NOT_FIND_ANY_ROUTE", "NO_ROUTES_FOUND"}:
            return "No swap route was found for this token and amount. It may have no liquidity; try a smaller " \
                   "amount or another token."
        if self.status == 429:
            return "The swap service is busy right now; nothing was changed. Please try again in a few seconds."
        if self.status >= 500 or self.status == 0:
            return "The swap service is unavailable right now; nothing was changed. Please try again shortly."
        return "The swap service refused this request; nothing was changed."


def _is_slippage(reason: str, logs: list[str]) -> bool:
    text = " ".join([reason, *logs])
    return "6001" in text or "0x1771" in text or "SlippageToleranceExceeded" in text
