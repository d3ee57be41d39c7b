"""Errors raised at the chain boundary. The exception's text is the detail for the logs (a method, a status); what a
trader reads is ``telegrambot.texts.refusal``'s, from the code and the data here. Nothing here holds a key."""

from __future__ import annotations

from kernel.errors import UserFacingError


class ChainError(UserFacingError):
    """Base class: the Solana network did not answer as expected."""

    code = "chain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


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


class BlockEngineUnavailable(ChainUnavailable):
    """The block engine (MEV protection) could not be reached, or refused a request (e.g. a bundle without a tip)."""

    code = "block_engine_unavailable"


class TransactionRejected(ChainError):
    """The node refused the transaction before it landed (preflight failure, bad blockhash)."""

    code = "transaction_rejected"

    def __init__(self, reason: str, logs: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs or []

    @property
    def is_slippage(self) -> bool:
        return is_slippage(self.reason, self.logs)

    @property
    def is_blockhash_not_found(self) -> bool:
        """The node does not know the transaction's blockhash: too old, or newer than the node (it lags)."""
        return "BlockhashNotFound" in self.reason or "Blockhash not found" in self.reason

    @property
    def is_insufficient_funds(self) -> bool:
        return any("insufficient" in line.lower() for line in [self.reason, *self.logs])


class JupiterError(UserFacingError):
    """The swap API refused a request. ``error_code`` is Jupiter's errorCode when it gave one, ``status`` the HTTP
    status (0: no answer); the exception's text is the detail for the logs."""

    code = "swap_api_refused"

    def __init__(self, detail: str, *, error_code: str = "", status: int = 0) -> None:
        super().__init__(detail)
        self.error_code = error_code
        self.status = status


def is_slippage(reason: str, logs: list[str]) -> bool:
    """The swap program's "slippage tolerance exceeded" (6001 = 0x1771), in a reason or a simulation's logs."""
    text = " ".join([reason, *logs])
    return "6001" in text or "0x1771" in text or "SlippageToleranceExceeded" in text
