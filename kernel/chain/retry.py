"""The one retry policy of the chain clients (Solana RPC, the swap API): what is transient, how long to wait, when
to give up.

Transient means the same request may well succeed a moment later: the connection failed or timed out, the server
answered HTTP 429 or 5xx, or the RPC node said "not now" (-32005 it is behind, -32016 it has not reached the asked
slot, a provider's 429). Everything else is the answer, returned at once. Waits double from ``backoff`` with jitter
(clients that failed together do not come back together); a server's Retry-After, in seconds or as an HTTP date,
replaces the backoff, capped at ``max_retry_after``. Both the attempts and the total time are bounded.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.core import RPCException
from solders.rpc.errors import MinContextSlotNotReachedMessage, NodeUnhealthyMessage
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from kernel.chain.errors import UnknownRpcError

T = TypeVar("T")
RATE_LIMITED = 429

# Called before each wait with the failure, the number of the attempt that failed and the seconds about to be waited.
OnRetry = Callable[[BaseException, int, float], None]


def is_transient_http(err: BaseException) -> bool:
    """The connection failed or timed out, or the server answered HTTP 429 or 5xx (httpx, or httpx2 under solana-py)."""
    cause = _unwrapped(err)
    if isinstance(cause, httpx.HTTPStatusError | httpx2.HTTPStatusError):
        status = cause.response.status_code
        return status == RATE_LIMITED or status >= 500
    return isinstance(cause, httpx.TransportError | httpx2.TransportError)


def is_transient(err: BaseException) -> bool:
    """Transient at the HTTP level, or an RPC node's "not now": behind, short of the asked slot, rate limiting."""
    if is_transient_http(err):
        return True
    if isinstance(err, RPCException):
        answer = err.args[0] if err.args else None
        return isinstance(answer, NodeUnhealthyMessage | MinContextSlotNotReachedMessage)  # -32005, -32016
    return isinstance(err, UnknownRpcError) and err.rpc_code == RATE_LIMITED


def retry_after(err: BaseException, *, now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (its Retry-After header), or None when it did not say."""
    cause = _unwrapped(err)
    if not isinstance(cause, httpx.HTTPStatusError | httpx2.HTTPStatusError):
        return None
    return parse_retry_after(cause.response.headers.get("Retry-After", ""), now=now)


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 10.2.3); a date in the past means now."""
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return None if math.isnan(seconds) else max(seconds, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 0.1  # the first wait; each next one doubles, plus up to ``backoff`` of jitter
    max_backoff: float = 2.0
    max_retry_after: float = 5.0  # a server asking for longer is waited for this long, then asked again
    total_seconds: float = 30.0  # never start a wait that would end past this, counted from the first attempt
    transient: Callable[[BaseException], bool] = is_transient

    async def call(self, attempt: Callable[[], Awaitable[T]], *, on_retry: OnRetry) -> T:
        """Await ``attempt()`` until it succeeds, fails for good, or the bounds are reached; then the last failure
        is raised as it was."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | stop_before_delay(self.total_seconds),
            wait=self._wait, retry=retry_if_exception(self.transient), reraise=True,
            before_sleep=lambda state: on_retry(_failure(state), state.attempt_number, _upcoming_sleep(state)))

        async def once() -> T:  # tenacity awaits only what it recognises as a coroutine function; a lambda is not one
            return await attempt()

        return await retrying(once)

    def _wait(self, state: RetryCallState) -> float:
        asked = retry_after(_failure(state))
        if asked is not None:
            return min(asked, self.max_retry_after)
        return wait_exponential_jitter(multiplier=self.backoff, max=self.max_backoff, jitter=self.backoff)(state)


def _unwrapped(err: BaseException) -> BaseException | None:
    """solana-py wraps every httpx2 error it meets in a SolanaRpcException; the HTTP error is its cause."""
    return err.__cause__ if isinstance(err, SolanaRpcException) else err


def _failure(state: RetryCallState) -> BaseException:
    assert state.outcome is not None and state.outcome.failed  # tenacity waits and logs only after a failure
    failure = state.outcome.exception()
    assert failure is not None
    return failure


def _upcoming_sleep(state: RetryCallState) -> float:
    return state.next_action.sleep if state.next_action is not None else 0.0
