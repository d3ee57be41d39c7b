"""Jupiter's HTTP swap API (v1 quote/swap, price v3) on one pooled HTTP client."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from kernel.chain.budget import RequestBudget
from kernel.chain.errors import JupiterError
from kernel.chain.retry import RetryPolicy, parse_retry_after
from kernel.metrics import JUPITER_REQUESTS

logger = logging.getLogger(__name__)

SOL_MINT = "So11111111111111111111111111111111111111112"
PRICE_BATCH = 50  # Jupiter's price v3 answers at most 50 ids per request
SOL_PRICE_TTL_SECONDS = 30.0  # SOL's USD price reused to spare a request (monitor prices are confirmed by quotes)
MAX_COMPUTE_UNIT_LIMIT = 1_400_000  # the runtime's most per transaction


@dataclass(frozen=True)
class Quote:
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    min_out_amount: int  # otherAmountThreshold: the least the swap accepts
    slippage_bps: int
    price_impact_pct: Decimal
    raw: dict  # passed back verbatim to /swap, as Jupiter requires


@dataclass(frozen=True)
class SwapTransaction:
    transaction: VersionedTransaction
    last_valid_block_height: int


@dataclass(frozen=True)
class SwapInstructions:
    """Jupiter's /swap-instructions answer: the swap as instructions, for the bot to compose its own transaction.
    There is no blockhash in it (so no last valid block height): the composer takes one from the RPC node."""

    compute_budget: tuple[Instruction, ...]  # Jupiter's own; the composer sets the bot's instead
    setup: tuple[Instruction, ...]  # e.g. the output token account's CreateIdempotent
    swap: Instruction
    cleanup: Instruction | None  # e.g. unwrapping wrapped SOL
    other: tuple[Instruction, ...]  # only a Jito tip Jupiter was asked for (the bot never asks)
    lookup_tables: tuple[str, ...]
    compute_unit_limit: int
    prioritization_fee_lamports: int


class JupiterClient:
    """Owns one ``httpx.AsyncClient``. Create it where it is owned, and ``await close()`` there. With a ``budget``
    (``kernel.chain.budget``), every request takes a slot from it: a trade's wait for one, ``background`` price
    polls are put off (BudgetExhausted) rather than spend the slots kept for trades."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 10.0,
                 attempts: int = 3, backoff: float = 0.2, budget: RequestBudget | None = None) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["x-api-key"] = api_key
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                       limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=60))
        self._retry = RetryPolicy(attempts=attempts, backoff=backoff)
        self._sol_usd: tuple[float, Decimal] | None = None  # (monotonic time, SOL's USD price) last read
        self.budget = budget

    async def close(self) -> None:
        await self._http.aclose()

    async def quote(self, *, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> Quote:
        body = await self._request("GET", "/swap/v1/quote", params={
            "inputMint": input_mint, "outputMint": output_mint, "amount": str(amount),
            "slippageBps": str(slippage_bps), "swapMode": "ExactIn",
        })
        try:
            return Quote(input_mint=body["inputMint"], output_mint=body["outputMint"], in_amount=int(body["inAmount"]),
                         out_amount=int(body["outAmount"]), min_out_amount=int(body["otherAmountThreshold"]),
                         slippage_bps=int(body["slippageBps"]),
                         price_impact_pct=_decimal(body.get("priceImpactPct", "0")), raw=body)
        except (KeyError, TypeError, ValueError):
            raise JupiterError("quote response is missing fields", status=502) from None

    async def swap_transaction(self, *, quote: Quote, user_public_key: str, priority_fee_lamports: int,
                               jito_tip_lamports: int = 0) -> SwapTransaction:
        """With ``jito_tip_lamports`` (MEV protection) Jupiter adds a SOL transfer of that much to a Jito tip account
        instead of setting a priority fee."""
        body = await self._request("POST", "/swap/v1/swap", json={
            "quoteResponse": quote.raw,
            "userPublicKey": user_public_key,
            "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": True,
            "prioritizationFeeLamports": ({"jitoTipLamports": jito_tip_lamports} if jito_tip_lamports
                                          else priority_fee_lamports),
        })
        if body.get("simulationError"):
            raise JupiterError(f"swap simulation failed: {body['simulationError']}", error_code="SIMULATION_ERROR",
                               status=400)
        try:
            transaction = VersionedTransaction.from_bytes(base64.b64decode(body["swapTransaction"]))
            return SwapTransaction(transaction, int(body["lastValidBlockHeight"]))
        except (KeyError, TypeError, ValueError):
            raise JupiterError("swap response is not a transaction", status=502) from None

    async def swap_instructions(self, *, quote: Quote, user_public_key: str,
                                priority_fee_lamports: int) -> SwapInstructions:
        body = await self._request("POST", "/swap/v1/swap-instructions", json={
            "quoteResponse": quote.raw,
            "userPublicKey": user_public_key,
            "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": True,
            "prioritizationFeeLamports": priority_fee_lamports,
        })
        if body.get("simulationError"):
            raise JupiterError(f"swap simulation failed: {body['simulationError']}", error_code="SIMULATION_ERROR",
                               status=400)
        try:
            limit = int(body["computeUnitLimit"])
            if not 0 < limit <= MAX_COMPUTE_UNIT_LIMIT:
                raise ValueError(limit)
            cleanup = body.get("cleanupInstruction")
            return SwapInstructions(
                compute_budget=tuple(_instruction(ix) for ix in body.get("computeBudgetInstructions") or []),
                setup=tuple(_instruction(ix) for ix in body.get("setupInstructions") or []),
                swap=_instruction(body["swapInstruction"]),
                cleanup=_instruction(cleanup) if cleanup else None,
                other=tuple(_instruction(ix) for ix in body.get("otherInstructions") or []),
                lookup_tables=tuple(str(Pubkey.from_string(key)) for key in body["addressLookupTableAddresses"]),
                compute_unit_limit=limit,
                prioritization_fee_lamports=int(body.get("prioritizationFeeLamports") or 0))
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise JupiterError("swap-instructions response is malformed", status=502) from None

    async def usd_prices(self, mints: Sequence[str], *, background: bool = False) -> dict[str, Decimal]:
        """USD price per mint, in batches of 50 requested in parallel. Unknown mints are absent."""
        entries = await self._price_entries(mints, background=background)
        return {mint: _decimal(entry["usdPrice"]) for mint, entry in entries.items()
                if entry.get("usdPrice") is not None}

    async def _price_entries(self, mints: Sequence[str], *, background: bool = False) -> dict[str, dict]:
        unique = list(dict.fromkeys(mints))
        batches = [unique[i:i + PRICE_BATCH] for i in range(0, len(unique), PRICE_BATCH)]
        if background and self.budget is not None:
            self.budget.take_now(len(batches))  # the whole cycle's slots, or none (BudgetExhausted)
        answers = await asyncio.gather(*[self._request("GET", "/price/v3", params={"ids": ",".join(batch)},
                                                       background=background, prepaid=background)
                                         for batch in batches])
        return {mint: entry for answer in answers for mint, entry in answer.items() if isinstance(entry, dict)}

    async def sol_prices(self, mints: Sequence[str], *, background: bool = False) -> dict[str, Decimal]:
        """Price of one whole token in SOL, derived from USD prices (usdPrice(token) / usdPrice(SOL)).

        SOL's own price rides in a batch with room for it. When the mints fill their batches exactly (5,000 mints:
        100 requests), SOL's price from the last SOL_PRICE_TTL_SECONDS is used instead of a 101st request."""
        unique = [mint for mint in dict.fromkeys(mints) if mint != SOL_MINT]
        now = time.monotonic()
        cached = self._sol_usd if self._sol_usd is not None and now - self._sol_usd[0] < SOL_PRICE_TTL_SECONDS \
            else None
        ask_sol = cached is None or len(unique) % PRICE_BATCH != 0
        usd = await self.usd_prices([SOL_MINT, *unique] if ask_sol else unique, background=background)
        sol = usd.get(SOL_MINT)
        if sol:
            self._sol_usd = (now, sol)
        elif cached is not None:
            sol = cached[1]
        if not sol:
            return {}
        return {mint: price / sol for mint, price in usd.items() if mint != SOL_MINT}

    async def _request(self, method: str, path: str, *, background: bool = False, prepaid: bool = False,
                       **kwargs: Any) -> dict:
        paid = prepaid  # the first attempt's slot may have been taken with its batch

        async def attempt() -> httpx.Response:
            nonlocal paid
            if self.budget is not None and not paid:
                if background:
                    self.budget.take_now(1)
                else:
                    await self.budget.take()
            paid = False
            return await self._attempt(method, path, **kwargs)

        try:
            response = await self._retry.call(attempt, on_retry=functools.partial(_log_retry, path))
        except (httpx.HTTPStatusError, httpx.TransportError) as err:
            raise _jupiter_error(err, path) from None
        return _json(response, path)

    async def _attempt(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        JUPITER_REQUESTS.labels(endpoint=path).inc()
        response = await self._http.request(method, path, **kwargs)
        if response.status_code == 429 and self.budget is not None:
            self.budget.close_for(min(parse_retry_after(response.headers.get("Retry-After", "")) or 1.0, 60.0))
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
        return response


def _log_retry(path: str, err: BaseException, attempt: int, delay: float) -> None:
    logger.warning("Jupiter %s failed (%s); retry %d in %.2f s", path, _jupiter_error(err, path), attempt, delay)


def _jupiter_error(err: BaseException, path: str) -> BaseException:
    if isinstance(err, httpx.HTTPStatusError):
        return _error(err.response, path)
    if isinstance(err, httpx.TimeoutException):
        return JupiterError(f"{path} timed out", status=0)
    if isinstance(err, httpx.TransportError):
        return JupiterError(f"{path} unreachable: {type(err).__name__}", status=0)
    return err


def _json(response: httpx.Response, path: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise JupiterError(f"{path} answered with something that is not JSON", status=502) from None
    if not isinstance(body, dict):
        raise JupiterError(f"{path} answered with unexpected JSON", status=502)
    return body


def _error(response: httpx.Response, path: str) -> JupiterError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("error") or body.get("message") or f"HTTP {response.status_code}")[:300]
    return JupiterError(f"{path}: {message}", error_code=str(body.get("errorCode", "")), status=response.status_code)


def _instruction(body: dict) -> Instruction:
    """One instruction as Jupiter writes it: ``{programId, accounts: [{pubkey, isSigner, isWritable}], data}``
    (base58 keys, base64 data)."""
    accounts = [AccountMeta(Pubkey.from_string(meta["pubkey"]), _flag(meta["isSigner"]), _flag(meta["isWritable"]))
                for meta in body["accounts"]]
    return Instruction(Pubkey.from_string(body["programId"]), base64.b64decode(body["data"], validate=True), accounts)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):  # "false" would be truthy: only JSON's own true and false are read
        raise ValueError(value)
    return value


def _decimal(value: object) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise JupiterError(f"not a number: {str(value)[:40]!r}", status=502) from None
    if not number.is_finite():
        raise JupiterError("not a finite number", status=502)
    return number
