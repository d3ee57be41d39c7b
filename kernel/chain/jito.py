"""A Jito-shaped block engine's JSON-RPC (``/api/v1/bundles``): the private way to the leader that MEV protection
sends a trade by, as a bundle of its one transaction. Owns one pooled HTTP client."""

from __future__ import annotations

import base64
import itertools
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from solders.pubkey import Pubkey

from kernel.chain.errors import BlockEngineUnavailable, TransactionRejected
from kernel.metrics import RPC_REQUESTS

logger = logging.getLogger(__name__)

BUNDLES = "/api/v1/bundles"


class BlockEngineClient:
    """Create it where it is owned, and ``await close()`` there. Every failure is ``BlockEngineUnavailable``: the
    caller decides whether it matters (a resend that fails never does; only confirmation on the RPC decides)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                       headers={"Content-Type": "application/json"},
                                       limits=httpx.Limits(max_keepalive_connections=10, keepalive_expiry=60))
        self._ids = itertools.count(1)
        self._tip_accounts: tuple[str, ...] | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def tip_accounts(self) -> tuple[str, ...]:
        """The accounts a bundle may tip (Jito's eight); read once, then kept."""
        if self._tip_accounts is None:
            answer = await self._call("getTipAccounts", [])
            if not isinstance(answer, list) or not answer or not all(_is_pubkey(key) for key in answer):
                raise BlockEngineUnavailable("getTipAccounts answered without a list of accounts")
            self._tip_accounts = tuple(answer)
        return self._tip_accounts

    async def send_bundle(self, transactions: Sequence[bytes]) -> str:
        """Send signed transactions as one bundle (in order, all or nothing); returns the bundle id. The engine's
        refusal (no tip, too many transactions) is ``TransactionRejected``: a refused bundle never lands."""
        encoded = [base64.b64encode(raw).decode() for raw in transactions]
        answer = await self._call("sendBundle", [encoded, {"encoding": "base64"}])
        if not isinstance(answer, str):
            raise BlockEngineUnavailable("sendBundle answered without a bundle id")
        return answer

    async def _call(self, method: str, params: list[Any]) -> Any:
        RPC_REQUESTS.labels(method=f"jito.{method}").inc()
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = await self._http.post(BUNDLES, json=body)
        except httpx.TimeoutException:
            raise BlockEngineUnavailable(f"{method} timed out") from None
        except httpx.TransportError as err:
            raise BlockEngineUnavailable(f"{method} unreachable: {type(err).__name__}") from None
        if response.status_code >= 400:
            raise BlockEngineUnavailable(f"{method}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise BlockEngineUnavailable(f"{method} answered with something that is not JSON") from None
        if not isinstance(answer, dict):
            raise BlockEngineUnavailable(f"{method} answered with unexpected JSON")
        if answer.get("error") is not None:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            reason = f"{method} refused: {str(error.get('message', answer['error']))[:200]}"
            raise TransactionRejected(reason) if method == "sendBundle" else BlockEngineUnavailable(reason)
        return answer.get("result")


def _is_pubkey(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        Pubkey.from_string(text)
    except ValueError:
        return False
    return True
