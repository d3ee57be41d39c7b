"""A swap venue speaking Jupiter's HTTP API: constant-product pools whose reserves are real accounts on the
local chain. A swap is a v0 transaction shaped like Jupiter's: compute budget, the output token account, one
route instruction to Jupiter's program id, pool accounts loaded through an Address Lookup Table, signed by the
user alone. The chain carries the route out at execution time through the venue (the real transfers, checked
against live reserves: slippage fails with Jupiter's error 6001). ``/swap-instructions`` answers the same swap as
Jupiter's instruction groups, for a client to compose. ``venue.attack`` makes either hostile."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID
from spl.token.instructions import (
    AuthorityType,
    approve,
    close_account,
    create_idempotent_associated_token_account,
    set_authority,
    transfer_checked,
)
from spl.token.models import ApproveParams, CloseAccountParams, SetAuthorityParams, TransferCheckedParams

from localnet.chain import JUPITER_PROGRAM_ID, SLIPPAGE_ERROR, U64_MAX, Chain, RouteRefused
from localnet.hostile import Knobs, RateLimit
from localnet.http import Request, Response, Server

SOL_MINT = "So11111111111111111111111111111111111111112"
FEE_BPS = 25
COMPUTE_UNIT_LIMIT = 200_000
AUTHORITY_RENT = 890_880  # the pool authority is a plain system account and keeps its rent-exempt minimum
ROUTE_DISCRIMINATOR = hashlib.sha256(b"global:route").digest()[:8]  # Anchor's, as Jupiter's `route`
BUY, SELL, SELL_FOR_OTHER_TOKEN = 0, 1, 2
ROUTE_DATA_SIZE = 8 + 32 + 1 + 8 * 4
ATTACKS = ("drain_transfer", "approve_stranger", "close_to_stranger", "set_authority_stranger", "wrong_output_mint",
           "extra_sol_out", "inflated_priority_fee", "unknown_program", "second_signer", "quote_mismatch",
           "inflated_tip")
DRAIN_LAMPORTS = 9 * 10**9
INFLATED_FEE_LAMPORTS = 5 * 10**9
INFLATED_TIP_LAMPORTS = 5 * 10**9
JUNK_DECIMALS = 9


@dataclass
class Pool:
    symbol: str
    mint: Pubkey
    decimals: int
    program: Pubkey
    authority: Keypair
    lookup_table: Pubkey | None = None  # set when listed: authority, vault, mint, token program, System, ATA

    @property
    def vault(self) -> Pubkey:
        return get_associated_token_address(self.authority.pubkey(), self.mint, self.program)

    def table_addresses(self) -> list[Pubkey]:
        return [self.authority.pubkey(), self.vault, self.mint, self.program, SYSTEM_PROGRAM_ID,
                ASSOCIATED_TOKEN_PROGRAM_ID]


@dataclass(frozen=True)
class Route:
    """What a route instruction's data says (localnet's layout; Jupiter's real one differs)."""

    mint: Pubkey  # the pool's mint (the price comes from its reserves)
    direction: int
    amount_in: int
    quoted_out: int
    threshold: int
    extra_lamports: int  # taken from the user besides the swap (0 unless the venue is hostile)

    def encode(self) -> bytes:
        return (ROUTE_DISCRIMINATOR + bytes(self.mint) + bytes([self.direction])
                + b"".join(v.to_bytes(8, "little") for v in (self.amount_in, self.quoted_out, self.threshold,
                                                               self.extra_lamports)))

    @classmethod
    def decode(cls, data: bytes) -> Route:
        if len(data) != ROUTE_DATA_SIZE or data[:8] != ROUTE_DISCRIMINATOR or data[40] > SELL_FOR_OTHER_TOKEN:
            raise ValueError("not a localnet route")
        values = [int.from_bytes(data[41 + 8 * i:49 + 8 * i], "little") for i in range(4)]
        return cls(Pubkey.from_bytes(data[8:40]), data[40], *values)


@dataclass(frozen=True)
class SwapParts:
    """A swap's instructions in the groups Jupiter's /swap-instructions answers with."""

    compute_budget: list[Instruction]  # SetComputeUnitLimit, SetComputeUnitPrice
    setup: list[Instruction]  # (buy) the user's output token account
    route: Instruction  # the swap instruction, to Jupiter's program
    after: list[Instruction]  # what follows the route (nothing, unless hostile)
    tip: list[Instruction]  # the Jito tip asked for with {"jitoTipLamports": N}

    def instructions(self) -> list[Instruction]:
        return [*self.compute_budget, *self.setup, self.route, *self.after, *self.tip]


class _Order(NamedTuple):
    pool: Pool
    user: Pubkey
    sol_in: bool
    amount: int
    quoted_out: int
    threshold: int
    priority_fee: int
    jito_tip: int


class SwapVenue(Server):
    def __init__(self, chain: Chain, *, sol_usd: Decimal = Decimal("150"), knobs: Knobs | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain = chain
        self.knobs = knobs or Knobs()
        self.rate_limit = RateLimit()  # per API key, at knobs.jupiter_rpm requests a minute
        self.rate_limited: Counter[str] = Counter()  # requests refused for rate, by request name
        self.launched_at: dict[str, float] = {}  # mint -> monotonic time of its launch (Localnet.launch_token)
        self.sol_usd = sol_usd
        self.pools: dict[str, Pool] = {}
        self.api_keys_seen: list[str] = []
        self._lock = threading.Lock()
        # Hostile-venue mode: one of ATTACKS applied to every swap while set (tests set it; `--attack KIND`).
        self.attack: str | None = None
        self.attacker = Keypair()  # funded with nothing; where hostile swaps send what they take
        self.unknown_program = Keypair().pubkey()  # a program id nothing is deployed at
        self._junk: dict[str, Pubkey] = {}  # token program -> a worthless mint the venue can deliver instead
        # The block engine's tip accounts (set by Localnet): a swap asked for with {"jitoTipLamports": N} pays N to
        # one of them, as Jupiter's does.
        self.tip_accounts: list[Pubkey] = []
        chain.route_handler = self._route

    def add_pool(self, pool: Pool) -> None:
        if pool.lookup_table is None:
            pool.lookup_table = self.chain.create_lookup_table(pool.authority.pubkey(), pool.table_addresses())
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
        return pool_out(reserve_in, reserve_out, amount)

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
        retry_after = self.rate_limit.retry_after(request.headers.get("x-api-key", ""), self.knobs.jupiter_rpm,
                                                  window=self.knobs.jupiter_window_seconds)
        if retry_after is not None:  # as the free tier answers: 429, Retry-After in whole seconds
            self.rate_limited[self.request_name(request)] += 1
            return Response.json({"code": 429, "message": "Rate limit exceeded"}, status=429,
                                 headers={"Retry-After": str(retry_after)})
        routes = {("GET", "/swap/v1/quote"): self._quote, ("POST", "/swap/v1/swap"): self._swap,
                  ("POST", "/swap/v1/swap-instructions"): self._swap_instructions, ("GET", "/price/v3"): self._prices}
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

    # /swap/v1/swap and /swap/v1/swap-instructions

    def _swap(self, request: Request) -> Response:
        order = self._order(request)
        if isinstance(order, Response):
            return order
        blockhash, last_valid = self.chain.latest_blockhash()
        transaction = self.build_swap(order.pool, order.user, sol_in=order.sol_in, amount=order.amount,
                                      out=order.quoted_out, threshold=order.threshold,
                                      priority_fee=order.priority_fee, blockhash=blockhash, attack=self.attack,
                                      jito_tip=order.jito_tip)
        return Response.json({"swapTransaction": base64.b64encode(bytes(transaction)).decode(),
                              "lastValidBlockHeight": last_valid,
                              "prioritizationFeeLamports": order.priority_fee or order.jito_tip,
                              "computeUnitLimit": COMPUTE_UNIT_LIMIT, "simulationError": None})

    def _swap_instructions(self, request: Request) -> Response:
        """The same swap as ``/swap`` builds, as Jupiter's instruction groups, for a client to compose its own
        transaction (its own compute budget, a tip, a CloseAccount); no blockhash, so no lastValidBlockHeight. A
        Jito tip asked for comes among ``otherInstructions``."""
        order = self._order(request)
        if isinstance(order, Response):
            return order
        parts = self.swap_parts(order.pool, order.user, sol_in=order.sol_in, amount=order.amount,
                                out=order.quoted_out, threshold=order.threshold, priority_fee=order.priority_fee,
                                attack=self.attack, jito_tip=order.jito_tip)
        setup = list(parts.setup)
        price = parts.compute_budget[1:]
        if self.attack == "inflated_priority_fee":
            # A client composing its own transaction drops computeBudgetInstructions: a hostile API slips the
            # inflated price in among the setup instructions instead, where it would still be signed.
            setup[:0] = price
        unit_price = int.from_bytes(bytes(price[0].data)[1:9], "little") if price else 0
        return Response.json({
            "tokenLedgerInstruction": None,
            "computeBudgetInstructions": [_instruction_json(ix) for ix in parts.compute_budget],
            "setupInstructions": [_instruction_json(ix) for ix in setup],
            "swapInstruction": _instruction_json(parts.route),
            "cleanupInstruction": _instruction_json(parts.after[0]) if parts.after else None,
            "otherInstructions": [_instruction_json(ix) for ix in [*parts.after[1:], *parts.tip]],
            "addressLookupTableAddresses": [str(order.pool.lookup_table)],
            "prioritizationFeeLamports": order.priority_fee or order.jito_tip, "computeUnitLimit": COMPUTE_UNIT_LIMIT,
            "prioritizationType": {"computeBudget": {"microLamports": unit_price,
                                                     "estimatedMicroLamports": unit_price}},
            "dynamicSlippageReport": None, "simulationError": None,
        })

    def _order(self, request: Request) -> _Order | Response:
        """What a swap request asks for, or the 400 Jupiter answers."""
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
        fee_setting = body.get("prioritizationFeeLamports", 0)
        tip = _jito_tip(fee_setting)
        return _Order(pool, user, sol_in, amount, quoted_out, threshold, 0 if tip else _priority_fee(fee_setting), tip)

    def build_swap(self, pool: Pool, user: Pubkey, *, sol_in: bool, amount: int, out: int, threshold: int,
                   priority_fee: int, blockhash: str, attack: str | None = None,
                   jito_tip: int = 0) -> VersionedTransaction:
        """The unsigned swap: SetComputeUnitLimit, SetComputeUnitPrice, (buy) the user's output token account,
        then the route; ``attack`` (one of ATTACKS) makes it hostile. With ``jito_tip`` (Jupiter's
        ``{"jitoTipLamports": N}``) there is no compute-unit price: a System transfer of N lamports to one of the
        block engine's tip accounts ends the transaction instead."""
        parts = self.swap_parts(pool, user, sol_in=sol_in, amount=amount, out=out, threshold=threshold,
                                priority_fee=priority_fee, attack=attack, jito_tip=jito_tip)
        table = AddressLookupTableAccount(pool.lookup_table, pool.table_addresses())
        message = MessageV0.try_compile(user, parts.instructions(), [table], Hash.from_string(blockhash))
        signers = list(message.account_keys[:message.header.num_required_signatures])
        signatures = [Signature.default()] * len(signers)
        if attack == "second_signer":
            signatures[signers.index(self.attacker.pubkey())] = self.attacker.sign_message(
                to_bytes_versioned(message))
        return VersionedTransaction.populate(message, signatures)

    def swap_parts(self, pool: Pool, user: Pubkey, *, sol_in: bool, amount: int, out: int, threshold: int,
                   priority_fee: int, attack: str | None = None, jito_tip: int = 0) -> SwapParts:
        """The swap's instructions, in Jupiter's groups: compute budget, setup, the route, what follows it, and the
        Jito tip (``inflated_tip`` puts its tip after the route, where a client composing its own keeps it)."""
        if attack is not None and attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r}; one of {', '.join(ATTACKS)}")
        authority = pool.authority.pubkey()
        user_token = get_associated_token_address(user, pool.mint, pool.program)
        extra = 0
        if attack == "quote_mismatch":  # built for twice the quoted input, priced at that size
            amount *= 2
            fresh = self.quote_out(str(pool.mint), sol_in=sol_in, amount=amount)
            threshold, out = fresh * threshold // max(out, 1), fresh
        if attack == "extra_sol_out":
            extra = 2 * amount if sol_in else 10**9
        unit_price = priority_fee * 1_000_000 // COMPUTE_UNIT_LIMIT
        if attack == "inflated_priority_fee":
            unit_price = INFLATED_FEE_LAMPORTS * 1_000_000 // COMPUTE_UNIT_LIMIT
        compute_budget = [set_compute_unit_limit(COMPUTE_UNIT_LIMIT)]
        if not jito_tip or attack == "inflated_priority_fee":
            compute_budget.append(set_compute_unit_price(unit_price))
        setup: list[Instruction] = []
        accounts = [AccountMeta(user, True, True), AccountMeta(user_token, False, True),
                    AccountMeta(authority, False, True), AccountMeta(pool.vault, False, True),
                    AccountMeta(pool.mint, False, False), AccountMeta(pool.program, False, False),
                    AccountMeta(SYSTEM_PROGRAM_ID, False, False)]
        direction = BUY if sol_in else SELL
        if attack == "wrong_output_mint":
            junk = self.junk_mint(pool)
            junk_token = get_associated_token_address(user, junk, pool.program)
            junk_vault = get_associated_token_address(authority, junk, pool.program)
            setup.append(create_idempotent_associated_token_account(user, user, junk, pool.program))
            if sol_in:  # the route names the junk mint's accounts in place of the quoted token's
                accounts[1], accounts[3] = AccountMeta(junk_token, False, True), AccountMeta(junk_vault, False, True)
                accounts[4] = AccountMeta(junk, False, False)
            else:  # the tokens go in; junk comes out in place of SOL
                direction = SELL_FOR_OTHER_TOKEN
                accounts += [AccountMeta(junk_token, False, True), AccountMeta(junk_vault, False, True),
                             AccountMeta(junk, False, False)]
        elif sol_in:
            setup.append(create_idempotent_associated_token_account(user, user, pool.mint, pool.program))
        if attack == "second_signer":
            accounts.append(AccountMeta(self.attacker.pubkey(), True, False))
        route = Route(pool.mint, direction, amount, out, threshold, extra)
        after = self._hostile_instructions(attack, pool, user, user_token)
        tip = [self._tip(user, jito_tip)] if jito_tip else []
        if attack == "inflated_tip":
            after.append(self._tip(user, INFLATED_TIP_LAMPORTS))
        return SwapParts(compute_budget, setup, Instruction(JUPITER_PROGRAM_ID, route.encode(), accounts), after, tip)

    def _tip(self, user: Pubkey, lamports: int) -> Instruction:
        """A System transfer to one of the block engine's tip accounts, picked at random as Jupiter does."""
        tip_account = self.knobs.random.choice(self.tip_accounts) if self.tip_accounts else self.attacker.pubkey()
        return transfer(TransferParams(from_pubkey=user, to_pubkey=tip_account, lamports=lamports))

    def _hostile_instructions(self, attack: str | None, pool: Pool, user: Pubkey,
                              user_token: Pubkey) -> list[Instruction]:
        attacker, program = self.attacker.pubkey(), pool.program
        if attack == "drain_transfer":
            return [transfer(TransferParams(from_pubkey=user, to_pubkey=attacker, lamports=DRAIN_LAMPORTS))]
        if attack == "approve_stranger":
            return [approve(ApproveParams(program_id=program, source=user_token, delegate=attacker, owner=user,
                                          amount=U64_MAX))]
        if attack == "close_to_stranger":
            return [close_account(CloseAccountParams(program_id=program, account=user_token, dest=attacker,
                                                     owner=user))]
        if attack == "set_authority_stranger":
            return [set_authority(SetAuthorityParams(program_id=program, account=user_token,
                                                     authority=AuthorityType.ACCOUNT_OWNER, current_authority=user,
                                                     new_authority=attacker))]
        if attack == "unknown_program":
            return [Instruction(self.unknown_program, b"\x01", [AccountMeta(user, True, True)])]
        return []

    def junk_mint(self, pool: Pool) -> Pubkey:
        """A worthless mint of the pool's token program, plenty of it held by the pool's authority."""
        with self._lock:
            junk = self._junk.get(str(pool.program))
            if junk is None:
                junk = self.chain.create_mint(decimals=JUNK_DECIMALS, mint_authority=None, freeze_authority=None,
                                              program=pool.program)
                self._junk[str(pool.program)] = junk
        vault = get_associated_token_address(pool.authority.pubkey(), junk, pool.program)
        if self.chain.account(vault) is None:
            self.chain.mint_to(junk, pool.authority.pubkey(), 10**15)  # per pool: the supply must stay a u64
        return junk

    def _route(self, instruction: Instruction) -> list[Instruction]:
        """Called by the chain at execution time: the transfers a route instruction stands for, priced at live
        reserves (the user gets the live output, at least the threshold, or the route fails with 6001)."""
        try:
            route = Route.decode(bytes(instruction.data))
        except ValueError:
            raise RouteRefused(6000, "EmptyRoute", "The route is empty or malformed") from None
        metas = instruction.accounts
        needed = 10 if route.direction == SELL_FOR_OTHER_TOKEN else 7
        if len(metas) < needed:
            raise RouteRefused(6008, "NotEnoughAccountKeys", "Not enough account keys")
        user, user_token, authority, vault, mint, program = (meta.pubkey for meta in metas[:6])
        pool = self.pools.get(str(route.mint))
        if (pool is None or not metas[0].is_signer or authority != pool.authority.pubkey()
                or program != pool.program or not self._pool_holds(pool, mint, vault)):
            raise RouteRefused(6000, "EmptyRoute", "The route's accounts are not a pool's")
        sol_in = route.direction == BUY
        live = self.quote_out(str(pool.mint), sol_in=sol_in, amount=route.amount_in)
        if live < route.threshold:
            raise RouteRefused(SLIPPAGE_ERROR, "SlippageToleranceExceeded",
                               "The output amount is below the minimum the swap accepts")
        decimals = self._decimals(pool, mint)
        steps = []
        if route.extra_lamports:
            steps.append(transfer(TransferParams(from_pubkey=user, to_pubkey=authority,
                                                 lamports=route.extra_lamports)))
        if sol_in:
            delivered = live if mint == pool.mint else route.quoted_out
            steps += [transfer(TransferParams(from_pubkey=user, to_pubkey=authority, lamports=route.amount_in)),
                      _transfer_checked(program, vault, mint, user_token, authority, delivered, decimals)]
        else:
            steps.append(_transfer_checked(program, user_token, mint, vault, user, route.amount_in, decimals))
            if route.direction == SELL:
                steps.append(transfer(TransferParams(from_pubkey=authority, to_pubkey=user, lamports=live)))
            else:
                out_token, out_vault, out_mint = (meta.pubkey for meta in metas[7:10])
                if not self._pool_holds(pool, out_mint, out_vault):
                    raise RouteRefused(6000, "EmptyRoute", "The route's accounts are not a pool's")
                steps.append(_transfer_checked(program, out_vault, out_mint, out_token, authority, route.quoted_out,
                                               self._decimals(pool, out_mint)))
        return steps

    def _pool_holds(self, pool: Pool, mint: Pubkey, vault: Pubkey) -> bool:
        """Whether (mint, vault) is the pool's own, or the venue's junk held by the pool's authority."""
        if mint == pool.mint:
            return vault == pool.vault
        return (mint in self._junk.values()
                and vault == get_associated_token_address(pool.authority.pubkey(), mint, pool.program))

    def _decimals(self, pool: Pool, mint: Pubkey) -> int:
        return pool.decimals if mint == pool.mint else JUNK_DECIMALS

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
            elif mint in self.pools and not self._too_new(mint):
                pool = self.pools[mint]
                prices[mint] = self._price_entry(self.price_sol(mint) * self.sol_usd, pool.decimals,
                                                 liquidity=self.reserves(mint)[0])
        return Response.json(prices)

    def _too_new(self, mint: str) -> bool:
        launched = self.launched_at.get(mint)
        return launched is not None and time.monotonic() - launched < self.knobs.launch_unpriced_seconds

    def _price_entry(self, usd: Decimal, decimals: int, liquidity: int = 0) -> dict:
        return {"usdPrice": float(usd), "blockId": self.chain.slot, "decimals": decimals, "priceChange24h": 0.0,
                "liquidity": float(Decimal(liquidity) / 10**9 * self.sol_usd * 2), "createdAt": "2026-01-01T00:00:00Z"}


def pool_authority_signs_first_time(chain: Chain, authority: Keypair, sol_reserve: int) -> None:
    """Fund a pool authority: its SOL reserve plus its own rent-exempt minimum."""
    chain.airdrop(authority.pubkey(), sol_reserve + AUTHORITY_RENT)


def _transfer_checked(program: Pubkey, source: Pubkey, mint: Pubkey, dest: Pubkey, owner: Pubkey, amount: int,
                      decimals: int) -> Instruction:
    return transfer_checked(TransferCheckedParams(program_id=program, source=source, mint=mint, dest=dest,
                                                  owner=owner, amount=amount, decimals=decimals))


def pool_out(reserve_in: int, reserve_out: int, amount: int) -> int:
    """What a constant-product pool pays out for ``amount`` in, after its fee."""
    after_fee = amount * (10_000 - FEE_BPS) // 10_000
    if reserve_in <= 0 or reserve_out <= 0:
        return 0
    return reserve_out * after_fee // (reserve_in + after_fee)  # rounded down: the pool never loses


def _priority_fee(value) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(int(value), 0)
    if isinstance(value, dict):
        inner = value.get("priorityLevelWithMaxLamports") or {}
        return int(inner.get("maxLamports", 0)) // 2
    return 10_000  # "auto"


def _instruction_json(instruction: Instruction) -> dict:
    """An instruction as Jupiter's API writes one: base58 keys, base64 data."""
    return {"programId": str(instruction.program_id),
            "accounts": [{"pubkey": str(meta.pubkey), "isSigner": meta.is_signer, "isWritable": meta.is_writable}
                         for meta in instruction.accounts],
            "data": base64.b64encode(bytes(instruction.data)).decode()}


def _jito_tip(value) -> int:
    """Jupiter's ``{"jitoTipLamports": N}``: N lamports to a Jito tip account instead of a priority fee."""
    if isinstance(value, dict) and isinstance(value.get("jitoTipLamports"), int):
        return max(value["jitoTipLamports"], 0)
    return 0


def _is_pubkey(text: str) -> bool:
    try:
        Pubkey.from_string(text)
    except ValueError:
        return False
    return True


def _bad(message: str, code: str) -> Response:
    return Response.json({"error": message, "errorCode": code}, status=400)


def sign_as(keypair: Keypair, transaction: VersionedTransaction) -> VersionedTransaction:
    """Fill the user's signature slot, as a wallet does with a Jupiter transaction."""
    message = transaction.message
    signatures = list(transaction.signatures)
    signers = list(message.account_keys[:message.header.num_required_signatures])
    signatures[signers.index(keypair.pubkey())] = keypair.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(transaction.message, signatures)
