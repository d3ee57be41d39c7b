"""A swap venue speaking Jupiter's HTTP API: constant-product pools whose reserves are real accounts on the
local chain. Swap transactions are real transfers, partly signed by the pool authority; a swap marker (a memo)
lets the chain re-check slippage at landing time, as Jupiter's program does on mainnet."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from decimal import Decimal

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.null_signer import NullSigner
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

from localnet.chain import MEMO_PROGRAM_ID, SWAP_MEMO_PREFIX, Chain
from localnet.http import Request, Response, Server

SOL_MINT = "So11111111111111111111111111111111111111112"
FEE_BPS = 25
COMPUTE_UNIT_LIMIT = 200_000
AUTHORITY_RENT = 890_880  # the pool authority is a plain system account and keeps its rent-exempt minimum


@dataclass
class Pool:
    symbol: str
    mint: Pubkey
    decimals: int
    program: Pubkey
    authority: Keypair

    @property
    def vault(self) -> Pubkey:
        return get_associated_token_address(self.authority.pubkey(), self.mint, self.program)


class SwapVenue(Server):
    def __init__(self, chain: Chain, *, sol_usd: Decimal = Decimal("150"), **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain = chain
        self.sol_usd = sol_usd
        self.pools: dict[str, Pool] = {}
        self.api_keys_seen: list[str] = []
        self._lock = threading.Lock()
        chain.swap_guard = self._guard

    def add_pool(self, pool: Pool) -> None:
        with self._lock:
            self.pools[str(pool.mint)] = pool

    def reserves(self, mint: str) -> tuple[int, int]:
        """(SOL reserve in lamports, token reserve in raw units), read from the chain."""
        pool = self.pools[mint]
        vault = self.chain.account(pool.vault)  # read the vault directly: no scan of every token account
        tokens = TokenAccount.from_bytes(bytes(vault.data)[:165]).amount if vault is not None else 0
        return self.chain.sol_balance(pool.authority.pubkey()) - AUTHORITY_RENT, tokens

    def quote_out(self, mint: str, *, sol_in: bool, amount: int) -> int:
        sol_reserve, token_reserve = self.reserves(mint)
        reserve_in, reserve_out = (sol_reserve, token_reserve) if sol_in else (token_reserve, sol_reserve)
        after_fee = amount * (10_000 - FEE_BPS) // 10_000
        if reserve_in <= 0 or reserve_out <= 0:
            return 0
        return reserve_out * after_fee // (reserve_in + after_fee)  # rounded down: the pool never loses

    def price_sol(self, mint: str) -> Decimal:
        """Spot price of one whole token in SOL."""
        pool = self.pools[mint]
        sol_reserve, token_reserve = self.reserves(mint)
        if token_reserve == 0:
            return Decimal(0)
        return (Decimal(sol_reserve) / 10**9) / (Decimal(token_reserve) / Decimal(10) ** pool.decimals)

    def request_name(self, request: Request) -> str:
        return request.path

    def handle(self, request: Request) -> Response:
        if request.headers.get("x-api-key"):
            self.api_keys_seen.append(request.headers["x-api-key"])
        routes = {("GET", "/swap/v1/quote"): self._quote, ("POST", "/swap/v1/swap"): self._swap,
                  ("GET", "/price/v3"): self._prices}
        route = routes.get((request.method, request.path))
        if route is None:
            return Response.json({"error": "Not found"}, status=404)
        return route(request)

    # /swap/v1/quote

    def _quote(self, request: Request) -> Response:
        query = request.query
        try:
            input_mint, output_mint = query["inputMint"], query["outputMint"]
            amount, slippage = int(query["amount"]), int(query.get("slippageBps", "50"))
        except (KeyError, ValueError):
            return _bad("Query parameter inputMint, outputMint and amount are required", "INVALID_REQUEST")
        if query.get("swapMode", "ExactIn") != "ExactIn":
            return _bad("Only ExactIn is supported", "INVALID_REQUEST")
        if amount <= 0 or not 0 <= slippage <= 10_000:
            return _bad("amount must be positive and slippageBps within 0..10000", "INVALID_REQUEST")
        for mint in (input_mint, output_mint):
            if mint != SOL_MINT and not _is_pubkey(mint):
                return _bad(f"{mint} is not a valid mint", "INVALID_MINT")
        sol_in = input_mint == SOL_MINT
        token = output_mint if sol_in else input_mint
        if (input_mint == SOL_MINT) == (output_mint == SOL_MINT):
            return _bad("The venue routes SOL to token and token to SOL only", "COULD_NOT_FIND_ANY_ROUTE")
        if token not in self.pools:
            if self.chain.mint(token) is None:
                return _bad(f"The token {token} is not tradable", "TOKEN_NOT_TRADABLE")
            return _bad("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        out = self.quote_out(token, sol_in=sol_in, amount=amount)
        if out <= 0:
            return _bad("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        threshold = out * (10_000 - slippage) // 10_000
        sol_reserve, token_reserve = self.reserves(token)
        reserve_in, reserve_out = (sol_reserve, token_reserve) if sol_in else (token_reserve, sol_reserve)
        impact = max(Decimal(0), 1 - (Decimal(out) * reserve_in) / (Decimal(amount) * reserve_out))
        fee = amount * FEE_BPS // 10_000
        return Response.json({
            "inputMint": input_mint, "inAmount": str(amount), "outputMint": output_mint, "outAmount": str(out),
            "otherAmountThreshold": str(threshold), "swapMode": "ExactIn", "slippageBps": slippage,
            "platformFee": None, "priceImpactPct": f"{impact:.6f}",
            "routePlan": [{"swapInfo": {"ammKey": str(self.pools[token].authority.pubkey()), "label": "Localnet CPMM",
                                        "inputMint": input_mint, "outputMint": output_mint, "inAmount": str(amount),
                                        "outAmount": str(out), "feeAmount": str(fee), "feeMint": input_mint},
                           "percent": 100}],
            "contextSlot": self.chain.slot, "timeTaken": 0.001,
        })

    # /swap/v1/swap

    def _swap(self, request: Request) -> Response:
        try:
            body = request.json()
            quote = body["quoteResponse"]
            user = Pubkey.from_string(body["userPublicKey"])
            amount, threshold = int(quote["inAmount"]), int(quote["otherAmountThreshold"])
            quoted_out = int(quote["outAmount"])
            input_mint, output_mint = quote["inputMint"], quote["outputMint"]
        except (KeyError, TypeError, ValueError):
            return _bad("quoteResponse and userPublicKey are required", "INVALID_REQUEST")
        sol_in = input_mint == SOL_MINT
        pool = self.pools.get(output_mint if sol_in else input_mint)
        if pool is None:
            return _bad("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        priority = _priority_fee(body.get("prioritizationFeeLamports", 0))
        blockhash, last_valid = self.chain.latest_blockhash()
        transaction = self.build_swap(pool, user, sol_in=sol_in, amount=amount, out=quoted_out,
                                      threshold=threshold, priority_fee=priority, blockhash=blockhash)
        return Response.json({"swapTransaction": base64.b64encode(bytes(transaction)).decode(),
                              "lastValidBlockHeight": last_valid, "prioritizationFeeLamports": priority,
                              "computeUnitLimit": COMPUTE_UNIT_LIMIT, "simulationError": None})

    def build_swap(self, pool: Pool, user: Pubkey, *, sol_in: bool, amount: int, out: int, threshold: int,
                   priority_fee: int, blockhash: str) -> VersionedTransaction:
        authority = pool.authority.pubkey()
        user_ata = get_associated_token_address(user, pool.mint, pool.program)
        direction = "buy" if sol_in else "sell"
        memo = f"{SWAP_MEMO_PREFIX}{pool.mint}:{direction}:{amount}:{threshold}".encode()
        instructions = [set_compute_unit_limit(COMPUTE_UNIT_LIMIT),
                        set_compute_unit_price(priority_fee * 1_000_000 // COMPUTE_UNIT_LIMIT),
                        Instruction(MEMO_PROGRAM_ID, memo, [])]
        if sol_in:
            instructions += [
                create_idempotent_associated_token_account(user, user, pool.mint, pool.program),
                transfer(TransferParams(from_pubkey=user, to_pubkey=authority, lamports=amount)),
                transfer_checked(TransferCheckedParams(program_id=pool.program, source=pool.vault, mint=pool.mint,
                                                       dest=user_ata, owner=authority, amount=out,
                                                       decimals=pool.decimals)),
            ]
        else:
            instructions += [
                transfer_checked(TransferCheckedParams(program_id=pool.program, source=user_ata, mint=pool.mint,
                                                       dest=pool.vault, owner=user, amount=amount,
                                                       decimals=pool.decimals)),
                transfer(TransferParams(from_pubkey=authority, to_pubkey=user, lamports=out)),
            ]
        message = MessageV0.try_compile(user, instructions, [], Hash.from_string(blockhash))
        partial = VersionedTransaction(message, [NullSigner(user), pool.authority])
        signatures = list(partial.signatures)
        signatures[0] = Signature.default()
        return VersionedTransaction.populate(message, signatures)

    def _guard(self, memo: str) -> str | None:
        """At landing: refuse a swap whose output at live reserves would fall below its threshold."""
        try:
            mint, direction, amount, threshold = memo.removeprefix(SWAP_MEMO_PREFIX).split(":")
        except ValueError:
            return "malformed swap"
        if mint not in self.pools:
            return "unknown pool"
        if self.quote_out(mint, sol_in=direction == "buy", amount=int(amount)) < int(threshold):
            return "The output amount is below the minimum the swap accepts"
        return None

    # /price/v3

    def _prices(self, request: Request) -> Response:
        ids = [mint for mint in request.query.get("ids", "").split(",") if mint]
        if not ids:
            return _bad("ids is required", "INVALID_REQUEST")
        if len(ids) > 50:
            return _bad("At most 50 ids per request", "INVALID_REQUEST")
        prices = {}
        for mint in ids:
            if mint == SOL_MINT:
                prices[mint] = self._price_entry(self.sol_usd, 9)
            elif mint in self.pools:
                pool = self.pools[mint]
                prices[mint] = self._price_entry(self.price_sol(mint) * self.sol_usd, pool.decimals,
                                                 liquidity=self.reserves(mint)[0])
        return Response.json(prices)

    def _price_entry(self, usd: Decimal, decimals: int, liquidity: int = 0) -> dict:
        return {"usdPrice": float(usd), "blockId": self.chain.slot, "decimals": decimals, "priceChange24h": 0.0,
                "liquidity": float(Decimal(liquidity) / 10**9 * self.sol_usd * 2), "createdAt": "2026-01-01T00:00:00Z"}


def pool_authority_signs_first_time(chain: Chain, authority: Keypair, sol_reserve: int) -> None:
    """Fund a pool authority: its SOL reserve plus its own rent-exempt minimum."""
    chain.airdrop(authority.pubkey(), sol_reserve + AUTHORITY_RENT)


def _priority_fee(value) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(int(value), 0)
    if isinstance(value, dict):
        inner = value.get("priorityLevelWithMaxLamports") or {}
        return int(inner.get("maxLamports", 0)) // 2 or int(value.get("jitoTipLamports", 0))
    return 10_000  # "auto"


def _is_pubkey(text: str) -> bool:
    try:
        Pubkey.from_string(text)
    except ValueError:
        return False
    return True


def _bad(message: str, code: str) -> Response:
    return Response.json({"error": message, "errorCode": code}, status=400)


def sign_as(keypair: Keypair, transaction: VersionedTransaction) -> VersionedTransaction:
    """Fill the user's (first) signature slot, as a wallet does with a Jupiter transaction."""
    signatures = list(transaction.signatures)
    signatures[0] = keypair.sign_message(to_bytes_versioned(transaction.message))
    return VersionedTransaction.populate(transaction.message, signatures)
