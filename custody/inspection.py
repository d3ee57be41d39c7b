"""Inspect a swap transaction before it is signed: sign only what the trader asked for.

The swap API builds the transaction and the bot signs it with the trader's key, so a wrong, compromised or
intercepted swap API could hand over anything: a plain transfer to a stranger signed and landed as a "0.1 SOL buy".
Every path that signs a swap (buy, sell, stop-loss/take-profit sale, snipe) goes through ``SwapInspector.inspect``,
which returns the only ``InspectedSwap`` the trading engine signs. Three layers, each refusing on its own:

1. The quote echoes the request (mints, amount, mode, slippage, a minimum output consistent with the slippage).
2. The message, decompiled with its address lookup tables resolved: one signer (the trader, paying the fee), every
   top-level program on an allow-list, System transfers only to the trader's own accounts or a known tip
   account and never more than asked (tips never more than the trader's own MEV tip: none at all on an
   unprotected trade), no Approve / SetAuthority / CloseAccount to anyone else, a compute-unit price × limit
   within the trader's priority-fee cap.
3. The net effect, by simulation against the trader's accounts: SOL out at most what was asked plus fees and rent,
   the right token arriving (at least the quote's minimum), no other holding shrinking or changing hands.

The aggregator's own route instruction cannot be read (its data is Jupiter's); the simulation is what sees inside it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

from custody.errors import SwapRefused, SwapWouldFail, WalletBusy
from kernel.chain.rpc import Holdings, RpcGateway, TokenHolding, parse_token_account

logger = logging.getLogger(__name__)

SOL_MINT = "So11111111111111111111111111111111111111112"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
JUPITER_PROGRAM = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
ALLOWED_PROGRAMS = frozenset({COMPUTE_BUDGET_PROGRAM, SYSTEM_PROGRAM, TOKEN_PROGRAM, TOKEN_2022_PROGRAM,
                              ASSOCIATED_TOKEN_PROGRAM, JUPITER_PROGRAM})
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)

SIGNATURE_FEE_LAMPORTS = 5_000
DEFAULT_UNITS_PER_INSTRUCTION = 200_000  # the runtime's default limit per non-compute-budget instruction
MAX_COMPUTE_UNITS = 1_400_000
ACCOUNT_RENT_SIZE = 200  # a token account with the extensions a Token-2022 mint may ask for (165 bytes plain)
CONSISTENT_ATTEMPTS = 8  # reads that keep changing (trades of the same trader landing) give up after this many
CONSISTENT_BACKOFF_SECONDS = 0.02  # the first wait before reading again; it doubles, with jitter, each time


@dataclass(frozen=True)
class SwapRequest:
    """What the trader asked for: the yardstick every part of the transaction is held against."""

    owner: str
    side: str  # "buy" (SOL in, token out) or "sell" (token in, SOL out)
    mint: str
    token_program: str
    amount: int  # lamports in for a buy, raw token units in for a sell
    slippage_bps: int
    priority_fee_cap: int  # lamports: the trader's own priority-fee setting
    tip_cap: int = 0  # lamports the swap may pay the block engine's tip accounts: the trader's MEV tip, if protected

    @property
    def input_mint(self) -> str:
        return SOL_MINT if self.side == "buy" else self.mint

    @property
    def output_mint(self) -> str:
        return self.mint if self.side == "buy" else SOL_MINT


@dataclass(frozen=True)
class InspectedSwap:
    """A swap transaction that passed every check; the trading engine signs nothing else."""

    transaction: VersionedTransaction
    simulated: bool


@dataclass(frozen=True)
class Decoded:
    """A message with its lookup tables resolved: keys in the runtime's order (static, loaded writable, loaded
    read-only), which of them are writable, and each instruction as (program, accounts, data)."""

    keys: tuple[str, ...]
    writable: frozenset[str]
    signers: tuple[str, ...]
    instructions: tuple[tuple[str, tuple[str, ...], bytes], ...]


@dataclass
class _Tally:
    account_creations: int = 0
    transfers: int = 0  # lamports moved out of the trader's wallet by top-level System transfers
    tips: int = 0  # of which to tip accounts


# 1. The quote.

def check_quote(quote, request: SwapRequest) -> None:
    """The quote must be for exactly what was asked, with a minimum output the slippage setting allows."""
    mode = quote.raw.get("swapMode", "ExactIn") if isinstance(quote.raw, dict) else "ExactIn"
    if quote.input_mint != request.input_mint or quote.output_mint != request.output_mint:
        raise SwapRefused("quote_mismatch", "other_tokens")
    if quote.in_amount != request.amount or mode != "ExactIn":
        raise SwapRefused("quote_mismatch", "other_amount")
    if quote.slippage_bps != request.slippage_bps:
        raise SwapRefused("quote_mismatch", "other_slippage")
    floor = quote.out_amount * (10_000 - request.slippage_bps) // 10_000
    if quote.out_amount <= 0 or not floor <= quote.min_out_amount <= quote.out_amount:
        raise SwapRefused("quote_mismatch", "minimum_output")


# 2. The message.

def decode(transaction: VersionedTransaction, tables: Mapping[str, Sequence[str]]) -> Decoded:
    """Decompile the message; ``tables`` maps each lookup table's address to its addresses."""
    message = transaction.message
    static = [str(key) for key in message.account_keys]
    header = message.header
    signers = static[:header.num_required_signatures]
    writable = {key for index, key in enumerate(static) if _static_is_writable(index, header, len(static))}
    loaded_writable: list[str] = []
    loaded_readonly: list[str] = []
    for lookup in getattr(message, "address_table_lookups", None) or []:
        table = str(lookup.account_key)
        addresses = tables.get(table)
        if addresses is None:
            raise SwapRefused("lookup_table", "table_unreadable", table=table)
        for indexes, into in ((lookup.writable_indexes, loaded_writable), (lookup.readonly_indexes, loaded_readonly)):
            for index in bytes(indexes):
                if index >= len(addresses):
                    raise SwapRefused("lookup_table", "entry_missing", index=index, size=len(addresses))
                into.append(addresses[index])
    keys = (*static, *loaded_writable, *loaded_readonly)
    writable |= set(loaded_writable)
    instructions = []
    for compiled in message.instructions:
        try:
            program = keys[compiled.program_id_index]
            accounts = tuple(keys[i] for i in bytes(compiled.accounts))
        except IndexError:
            raise SwapRefused("malformed", "unlisted_accounts") from None
        if compiled.program_id_index >= len(static):
            raise SwapRefused("malformed", "program_in_table")
        instructions.append((program, accounts, bytes(compiled.data)))
    return Decoded(keys=keys, writable=frozenset(writable), signers=tuple(signers), instructions=tuple(instructions))


def check_message(decoded: Decoded, request: SwapRequest, *, rent_per_account: int,
                  tip_accounts: frozenset[str] = frozenset()) -> int:
    """Apply the static rules; returns how many token accounts the transaction may create for the trader."""
    if decoded.signers != (request.owner,):
        others = [key for key in decoded.signers if key != request.owner]
        raise (SwapRefused("signer", "another_signer", signer=others[0]) if others
                           else SwapRefused("signer", "not_sole_signer"))
    own = _own_accounts(request)
    tally = _Tally()
    compute = _ComputeBudget()
    for program, accounts, data in decoded.instructions:
        if program not in ALLOWED_PROGRAMS:
            raise SwapRefused("unknown_program", "unknown_program", program=program)
        if program == COMPUTE_BUDGET_PROGRAM:
            compute.read(data)
        elif program == SYSTEM_PROGRAM:
            _check_system(accounts, data, request, own, tip_accounts, tally)
        elif program in TOKEN_PROGRAMS:
            _check_token(accounts, data, request)
        elif program == ASSOCIATED_TOKEN_PROGRAM:
            _check_associated_account(accounts, data, request)
            tally.account_creations += 1
    fee = compute.priority_fee_lamports(sum(1 for program, _, _ in decoded.instructions
                                            if program != COMPUTE_BUDGET_PROGRAM))
    if fee > request.priority_fee_cap:
        raise SwapRefused("priority_fee", "priority_fee_above_cap", fee=fee, cap=request.priority_fee_cap)
    if tally.tips > request.tip_cap:  # a tip is SOL gone for good: a hostile swap API must not drain through it
        raise SwapRefused("tip", "tip_above_cap", tip=tally.tips, cap=request.tip_cap)
    if tally.transfers > _sol_allowance(request, tally.account_creations, rent_per_account):
        raise SwapRefused("sol_transfer", "transfers_above_need", lamports=tally.transfers)
    return tally.account_creations


# 3. The net effect.

def effect_accounts(request: SwapRequest, holdings: Holdings, writable: Iterable[str]) -> list[str]:
    """The trader's accounts the transaction can change (only writable ones can): their state after the simulation
    shows what the swap did. Mainnet allows no more addresses than the transaction has accounts, so no others."""
    mine = {request.owner, *holdings.tokens, *_own_accounts(request)}
    return sorted(mine.intersection(writable), key=lambda key: key != request.owner)


def check_effects(request: SwapRequest, *, holdings: Holdings, after: Mapping[str, object | None], min_out: int,
                  account_creations: int, rent_per_account: int, closed: frozenset[str] = frozenset()) -> None:
    """Compare the trader's accounts before and after the simulated swap. ``after`` holds every account of the
    trader the transaction could change; the others cannot have moved. ``closed``: the accounts the message closes
    to the trader by its own top-level CloseAccount (``closes_to_owner``), e.g. the bot's on a full exit."""
    before_value, after_value = holdings.sol, _lamports(after.get(request.owner))
    deltas: dict[str, int] = {}
    for address, held in holdings.tokens.items():
        if address not in after:
            continue
        now = _token(after[address])
        if now is None and address in closed and held.mint != SOL_MINT:
            # Emptied, then closed with its rent to the trader: every token it held counts as gone (the rules below
            # hold that against what was asked), the rent shows in the wallet.
            deltas[held.mint] = deltas.get(held.mint, 0) - held.amount
            continue
        if now is None or now.owner != request.owner:
            if held.mint == SOL_MINT and now is None:
                before_value += held.amount  # wrapped SOL closed: its lamports must show in the wallet
                continue
            raise SwapRefused("account_taken", "account_closed_or_handed", address=address)
        if now.delegate is not None and now.delegate != held.delegate:
            raise SwapRefused("approve", "delegate_set")
        if now.close_authority != held.close_authority:
            raise SwapRefused("set_authority", "close_authority_changed")
        if held.mint == SOL_MINT:
            before_value += held.amount
            after_value += now.amount
        else:
            deltas[held.mint] = deltas.get(held.mint, 0) + now.amount - held.amount
    for address in _own_accounts(request):
        if address in holdings.tokens or address not in after:
            continue
        now = _token(after[address])
        if now is None:
            continue
        if now.owner != request.owner or now.delegate is not None:
            raise SwapRefused("account_taken", "account_for_someone_else")
        if now.mint == SOL_MINT:
            after_value += now.amount
        else:
            deltas[now.mint] = deltas.get(now.mint, 0) + now.amount
    for mint, delta in deltas.items():
        if mint != request.mint and delta < 0:
            raise SwapRefused("other_token", "takes_other_tokens")
    fees = _sol_allowance(request, account_creations, rent_per_account)
    if request.side == "buy":
        if before_value - after_value > fees:
            raise SwapRefused("sol_out", "sol_out_above_need", lamports=before_value - after_value, fees=fees)
        if deltas.get(request.mint, 0) < min_out:
            raise SwapRefused("output", "token_short")
        return
    if -deltas.get(request.mint, 0) > request.amount:
        raise SwapRefused("token_out", "takes_more_tokens")
    if after_value - before_value < min_out - fees:
        raise SwapRefused("output", "sol_short")


def closes_to_owner(decoded: Decoded, request: SwapRequest) -> frozenset[str]:
    """The token accounts a top-level CloseAccount of the message closes with the rent to the trader (a close to
    anyone else is refused by ``check_message``)."""
    return frozenset(accounts[0] for program, accounts, data in decoded.instructions
                     if program in TOKEN_PROGRAMS and data[:1] == bytes([TOKEN_CLOSE_ACCOUNT]) and len(accounts) >= 2
                     and accounts[1] == request.owner)


class SwapInspector:
    """Holds the lookup-table cache (entries of a table never change index, so known entries are kept and only
    missing tables or entries are fetched) and runs the three checks."""

    def __init__(self, rpc: RpcGateway, *, tip_accounts: Iterable[str] = (), simulate: bool = True) -> None:
        """``tip_accounts``: where a swap may send a tip (``add_tip_accounts`` adds the block engine's)."""
        self.rpc = rpc
        self.tip_accounts = frozenset(tip_accounts)
        self.simulate = simulate
        self._tables: dict[str, tuple[str, ...]] = {}

    def add_tip_accounts(self, accounts: Iterable[str]) -> None:
        self.tip_accounts = self.tip_accounts | frozenset(accounts)

    async def inspect(self, transaction: VersionedTransaction, request: SwapRequest, *, quote,
                      holdings: Holdings, simulate: bool | None = None) -> InspectedSwap:
        """Refuse (``SwapRefused``, ``SwapWouldFail``) or return the transaction, cleared for signing."""
        check_quote(quote, request)
        simulate = self.simulate if simulate is None else simulate
        rent = await self.rpc.rent_exempt_minimum(ACCOUNT_RENT_SIZE)  # cached after the first call
        # The simulation starts at once on the accounts the static keys show; a lookup table not yet cached is
        # fetched meanwhile, and only if it loads more of the trader's accounts is the simulation run again.
        watched = effect_accounts(request, holdings, _static_writable(transaction)) if simulate else []
        simulation = asyncio.ensure_future(self.rpc.simulate(transaction, accounts=watched)) if simulate else None
        try:
            tables = await self._tables_for(transaction)
            decoded = decode(transaction, tables)
            creations = check_message(decoded, request, rent_per_account=rent, tip_accounts=self.tip_accounts)
            if simulation is not None:
                full = effect_accounts(request, holdings, decoded.writable)
                if full != watched:
                    simulation.cancel()
                    simulation = asyncio.ensure_future(self.rpc.simulate(transaction, accounts=full))
                await self._check_simulation(simulation, transaction, decoded, request, quote, holdings, creations,
                                             rent)
        finally:
            if simulation is not None and not simulation.done():
                simulation.cancel()
        return InspectedSwap(transaction=transaction, simulated=simulate)

    async def _check_simulation(self, job, transaction, decoded: Decoded, request: SwapRequest, quote,
                                holdings: Holdings, creations: int, rent: int) -> None:
        """Judge the simulation only against a consistent picture: the trader's accounts it compares, read before it
        and read again after it, must be the same, or another transaction of theirs landed meanwhile (a concurrent
        trade, a deposit) and the comparison could be wrong either way (a refusal of an honest swap, or a drain
        masked by a deposit). Then wait a moment (with jitter, longer each time), simulate and read again."""
        before = holdings
        for attempt in range(CONSISTENT_ATTEMPTS):
            simulation = await job
            after = await self.rpc.holdings(request.owner)
            seen = _seen_by(request, simulation.accounts)
            if _view(after, seen) != _view(before, seen):
                logger.info("The accounts of %s changed during the swap's simulation; simulating again",
                            request.owner)
                before = after
                # Jitter spreads the trader's own concurrent swaps apart, so they stop reading over each other.
                await asyncio.sleep(random.uniform(0, CONSISTENT_BACKOFF_SECONDS * 2 ** attempt))
                job = asyncio.ensure_future(self.rpc.simulate(
                    transaction, accounts=effect_accounts(request, before, decoded.writable)))
                continue
            if simulation.err is not None:
                _explain_failure(simulation, request, before, creations, rent)
            check_effects(request, holdings=before, after=simulation.accounts, min_out=quote.min_out_amount,
                          account_creations=creations, rent_per_account=rent,
                          closed=closes_to_owner(decoded, request))
            return
        job.cancel()
        raise WalletBusy()

    async def _tables_for(self, transaction: VersionedTransaction) -> dict[str, tuple[str, ...]]:
        message = transaction.message
        lookups = list(message.address_table_lookups) if isinstance(message, MessageV0) else []
        missing = []
        for lookup in lookups:
            table = str(lookup.account_key)
            highest = max([*bytes(lookup.writable_indexes), *bytes(lookup.readonly_indexes)], default=-1)
            if highest >= len(self._tables.get(table, ())):
                missing.append(table)
        missing = list(dict.fromkeys(missing))
        if missing:
            for table, addresses in (await self.rpc.lookup_tables(missing)).items():
                if len(addresses) >= len(self._tables.get(table, ())):
                    self._tables[table] = tuple(addresses)
        return {table: self._tables[table] for table in (str(lookup.account_key) for lookup in lookups)
                if table in self._tables}


def _seen_by(request: SwapRequest, after: Mapping[str, object | None]) -> frozenset[str]:
    """The accounts ``check_effects`` compares: those the simulation returned and the trader's own accounts this
    swap may create. A trade of another token changing other accounts of the trader does not matter here."""
    return frozenset({*after, *_own_accounts(request)})


def _view(holdings: Holdings, accounts: frozenset[str]) -> tuple:
    return holdings.sol, sorted((address, holdings.tokens.get(address)) for address in accounts)


def _explain_failure(simulation, request: SwapRequest, holdings: Holdings, creations: int, rent: int) -> None:
    """A failed simulation moves nothing, so the swap is not sent. It is an attack, not bad luck, when it ran out
    of funds although the trader holds everything this trade needs: the transaction asks for more."""
    text = " ".join([simulation.err, *simulation.logs]).lower()
    if "insufficient" in text:
        if request.side == "buy":
            enough = holdings.sol >= _sol_allowance(request, creations, rent)
        else:
            enough = (holdings.token_amount(request.mint) or 0) >= request.amount and \
                holdings.sol >= _sol_allowance(request, creations, rent)
        if enough:
            raise SwapRefused("over_budget", "over_budget")
    raise SwapWouldFail(simulation.err, simulation.logs)


def _static_writable(transaction: VersionedTransaction) -> list[str]:
    message = transaction.message
    keys = [str(key) for key in message.account_keys]
    return [key for index, key in enumerate(keys) if _static_is_writable(index, message.header, len(keys))]


def _static_is_writable(index: int, header, count: int) -> bool:
    signers = header.num_required_signatures
    if index < signers:
        return index < signers - header.num_readonly_signed_accounts
    return index < count - header.num_readonly_unsigned_accounts


def _own_accounts(request: SwapRequest) -> tuple[str, ...]:
    """The trader's token accounts this trade may create or use: the token's and wrapped SOL's, under the token's
    own program and the classic one."""
    owner = Pubkey.from_string(request.owner)
    accounts = []
    for mint in (request.mint, SOL_MINT):
        for program in dict.fromkeys((request.token_program, TOKEN_PROGRAM)):
            accounts.append(str(get_associated_token_address(owner, Pubkey.from_string(mint),
                                                             Pubkey.from_string(program))))
    return tuple(dict.fromkeys(accounts))


def _sol_allowance(request: SwapRequest, account_creations: int, rent_per_account: int) -> int:
    spent = request.amount if request.side == "buy" else 0
    return (spent + request.priority_fee_cap + request.tip_cap + SIGNATURE_FEE_LAMPORTS
            + account_creations * rent_per_account)


def _check_system(accounts, data: bytes, request: SwapRequest, own: tuple[str, ...], tips: frozenset[str],
                  tally: _Tally) -> None:
    kind = int.from_bytes(data[:4], "little") if len(data) >= 4 else -1
    if kind != 2 or len(data) < 12 or len(accounts) < 2:  # 2 = Transfer; nonce, assign, allocate: never in a swap
        raise SwapRefused("system_instruction", "system_request")
    source, destination = accounts[0], accounts[1]
    lamports = int.from_bytes(data[4:12], "little")
    if source != request.owner:
        raise SwapRefused("sol_transfer", "sol_from_other_account")
    if destination not in own and destination not in tips:
        raise SwapRefused("sol_transfer", "sends_to_stranger", lamports=lamports, destination=destination)
    tally.transfers += lamports
    if destination in tips:
        tally.tips += lamports


TOKEN_SYNC_NATIVE, TOKEN_CLOSE_ACCOUNT = 17, 9
TOKEN_APPROVE, TOKEN_APPROVE_CHECKED, TOKEN_SET_AUTHORITY = 4, 13, 6


def _check_token(accounts, data: bytes, request: SwapRequest) -> None:
    kind = data[0] if data else -1
    if kind == TOKEN_SYNC_NATIVE:
        return
    if kind == TOKEN_CLOSE_ACCOUNT:
        if len(accounts) < 2 or accounts[1] != request.owner:
            raise SwapRefused("close_account", "closes_to_stranger")
        return
    if kind in (TOKEN_APPROVE, TOKEN_APPROVE_CHECKED):
        raise SwapRefused("approve", "delegate_set")
    if kind == TOKEN_SET_AUTHORITY:
        raise SwapRefused("set_authority", "hands_control")
    raise SwapRefused("token_instruction", "tokens_moved_outside")


def _check_associated_account(accounts, data: bytes, request: SwapRequest) -> None:
    if data not in (b"", b"\x00", b"\x01") or len(accounts) < 3:  # Create, CreateIdempotent; not RecoverNested
        raise SwapRefused("token_instruction", "token_account_request")
    if accounts[0] != request.owner or accounts[2] != request.owner:
        raise SwapRefused("account_taken", "account_for_someone_else_paid_by_you")


@dataclass
class _ComputeBudget:
    limit: int | None = None
    micro_lamports: int = 0
    seen: set = field(default_factory=set)

    def read(self, data: bytes) -> None:
        kind = data[0] if data else -1
        if kind in self.seen:
            raise SwapRefused("malformed", "compute_budget_twice")
        self.seen.add(kind)
        if kind == 2 and len(data) >= 5:
            self.limit = int.from_bytes(data[1:5], "little")
        elif kind == 3 and len(data) >= 9:
            self.micro_lamports = int.from_bytes(data[1:9], "little")
        elif kind not in (1, 4):  # RequestHeapFrame, SetLoadedAccountsDataSizeLimit cost nothing extra
            raise SwapRefused("malformed", "compute_budget_unknown")

    def priority_fee_lamports(self, instructions: int) -> int:
        limit = self.limit if self.limit is not None else min(DEFAULT_UNITS_PER_INSTRUCTION * instructions,
                                                              MAX_COMPUTE_UNITS)
        return -(-self.micro_lamports * limit // 1_000_000)  # rounded up: the cap is never exceeded by rounding


def _lamports(account) -> int:
    return 0 if account is None else account.lamports


def _token(account) -> TokenHolding | None:
    return parse_token_account(account)  # None for a missing account or anything that is not a token account
