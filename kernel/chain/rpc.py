"""The one gateway to Solana RPC: counted, time-limited, retried where safe, confirming on its own schedule."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, TypeVar

import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts, TxOpts
from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTable
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcKeyedAccountJsonParsed
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransaction,
    UiTransactionTokenBalance,
)
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from kernel.chain.effects import TransactionEffects
from kernel.chain.errors import ChainError, ChainUnavailable, TransactionRejected, UnknownRpcError
from kernel.chain.jito import BlockEngineClient
from kernel.chain.retry import RetryPolicy, is_transient, is_transient_http
from kernel.metrics import RPC_REQUESTS

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Confirmation polls quickly at first (most transactions land within a slot or two), then backs off.
CONFIRM_SCHEDULE = (0.05, 0.05, 0.1, 0.1, 0.2, 0.2, 0.4)


class Outcome(Enum):
    CONFIRMED = "confirmed"
    FAILED = "failed"  # landed, but the program returned an error: fee charged, nothing else moved
    EXPIRED = "expired"  # never landed before its blockhash expired: nothing moved


@dataclass(frozen=True)
class Confirmation:
    outcome: Outcome
    error: str = ""


@dataclass(frozen=True)
class MintInfo:
    address: str
    decimals: int
    supply: int
    program_id: str
    mint_authority: str | None
    freeze_authority: str | None
    extensions: tuple[tuple[int, bytes], ...] = ()  # Token-2022 (type, value) entries, in account order


SYSTEM_PROGRAM_ID = "11111111111111111111111111111111"
LOOKUP_TABLE_PROGRAM_ID = "AddressLookupTab1e1111111111111111111111111"
MULTIPLE_ACCOUNTS_LIMIT = 100  # mainnet's limit of keys per getMultipleAccounts
PRIORITY_FEE_TTL_SECONDS = 5.0  # the market moves slot by slot, but a trade a second need not ask each time
PRIORITY_FEE_CACHE_SIZE = 256  # distinct account sets remembered (the pools traded lately)
# A lookup table's entries never change index, but a table can be extended, deactivated or closed: kept briefly, so
# a trade's composer and its inspector read it once between them, and a burst of trades on one pool reads it once.
LOOKUP_TABLE_TTL_SECONDS = 10.0
LOOKUP_TABLE_CACHE_SIZE = 1024


@dataclass(frozen=True)
class TokenHolding:
    """One token account, as the transaction inspector compares it before and after a swap."""

    mint: str
    owner: str
    amount: int
    delegate: str | None
    close_authority: str | None
    program: str = str(TOKEN_PROGRAM_ID)
    withheld_fee: int = 0  # Token-2022 transfer fees withheld in the account: while any are, it cannot be closed


@dataclass(frozen=True)
class Holdings:
    """A wallet's SOL and every token account it owns (by address), read at one moment."""

    sol: int
    tokens: dict[str, TokenHolding]

    def token_amount(self, mint: str) -> int | None:
        """Raw balance of ``mint`` over the owner's accounts; None when it has no account for it at all."""
        amounts = [held.amount for held in self.tokens.values() if held.mint == mint]
        return sum(amounts) if amounts else None

    def token_program(self, mint: str) -> str | None:
        return next((held.program for held in self.tokens.values() if held.mint == mint), None)


@dataclass(frozen=True)
class Simulation:
    err: str | None
    logs: list[str]
    accounts: dict[str, Account | None]  # address -> account after the simulated transaction (None: absent)
    units: int


def parse_token_account(account: Account | None) -> TokenHolding | None:
    """A token account under either token program, or None for anything else."""
    if account is None or str(account.owner) not in (str(TOKEN_PROGRAM_ID), str(TOKEN_2022_PROGRAM_ID)):
        return None
    data = bytes(account.data)
    if len(data) < 165:
        return None
    try:
        parsed = TokenAccount.from_bytes(data[:165])
    except ValueError:
        return None
    if parsed.state == TokenAccountState.Uninitialized:
        return None
    return TokenHolding(mint=str(parsed.mint), owner=str(parsed.owner), amount=parsed.amount,
                        delegate=_optional_key(parsed.delegate), close_authority=_optional_key(parsed.close_authority),
                        program=str(account.owner), withheld_fee=_withheld_fee(data))


class RpcGateway:
    """Owns one ``AsyncClient``. Create it where it is owned, and ``await close()`` there."""

    def __init__(self, url: str, *, timeout: float = 10.0, read_attempts: int = 4, backoff: float = 0.1,
                 max_retry_after: float = 5.0, rebroadcast_seconds: float = 2.0,
                 fallback_urls: Sequence[str] = (), send_urls: Sequence[str] = ()) -> None:
        self.url = url
        self.rebroadcast_seconds = rebroadcast_seconds  # 0: each transaction is sent once
        # Full nodes, the primary first: a read goes to the first that is not benched, and moves on to the next
        # when it fails in a way another node may not (down, timing out, behind, rate limiting).
        urls = _distinct([url, *fallback_urls])
        self._nodes = [_Node(other, AsyncClient(other, commitment=Confirmed, timeout=timeout, max_transport_retries=0))
                       for other in urls]
        # Every copy of a transaction also goes to the other full nodes and to send-only endpoints (other providers,
        # a staked connection) once the first send has passed preflight: a leader one node's forwarding misses,
        # another's may reach.
        self._send_only = [AsyncClient(other, commitment=Confirmed, timeout=min(timeout, 5.0), max_transport_retries=0)
                           for other in _distinct(send_urls) if other.rstrip("/") not in _bare(urls)]
        self._reads = RetryPolicy(attempts=read_attempts + len(self._nodes) - 1, backoff=backoff,
                                  max_retry_after=max_retry_after)
        # A send is resent only where a failure may hide a request that never reached the node (the HTTP level):
        # the same bytes are the same transaction. An RPC error answer is the node's verdict and is not retried.
        self._sends = replace(RetryPolicy(attempts=read_attempts, backoff=backoff, max_retry_after=max_retry_after),
                              transient=is_transient_http)
        self._rent_cache: dict[int, int] = {}
        self._fee_cache: dict[tuple[str, ...], tuple[float, tuple[int, ...]]] = {}
        self._table_cache: dict[str, tuple[float, tuple[str, ...]]] = {}

    async def close(self, *, quiet: bool = False) -> None:
        if not quiet:
            logger.info("Closing Solana RPC client...")
        await asyncio.gather(*(node.client.close() for node in self._nodes),
                             *(client.close() for client in self._send_only))

    # Reads: retried on what kernel.chain.retry calls transient (timeouts, 429 honouring Retry-After, 5xx, node behind).

    async def sol_balance(self, pubkey: str) -> int:
        response = await self._read("getBalance", lambda c: c.get_balance(Pubkey.from_string(pubkey)))
        return response.value

    async def account_kind(self, pubkey: str) -> tuple[int, bool]:
        """(lamports, is a plain wallet): a wallet is an account that does not exist yet, or one owned by the System
        Program that is not executable. Programs, token accounts and other program-owned accounts are not."""
        response = await self._read("getAccountInfo", lambda c: c.get_account_info(Pubkey.from_string(pubkey)))
        account = response.value
        if account is None:
            return 0, True
        return account.lamports, str(account.owner) == SYSTEM_PROGRAM_ID and not account.executable

    async def block_height(self) -> int:
        return (await self._read("getBlockHeight", lambda c: c.get_block_height())).value

    async def latest_blockhash(self) -> tuple[str, int]:
        value = (await self._read("getLatestBlockhash", lambda c: c.get_latest_blockhash())).value
        return str(value.blockhash), value.last_valid_block_height

    async def rent_exempt_minimum(self, size: int) -> int:
        if size not in self._rent_cache:
            response = await self._read("getMinimumBalanceForRentExemption",
                                        lambda c: c.get_minimum_balance_for_rent_exemption(size))
            self._rent_cache[size] = response.value
        return self._rent_cache[size]

    async def recent_priority_fee(self, accounts: Sequence[str] = (), *, percentile: int) -> int:
        """The compute-unit price (micro-lamports per CU) that ``percentile`` percent of the recent slots' fees
        were at or under, for transactions writing ``accounts`` (none: the whole market). Nearest rank, integers
        only; 0 when the node reports no slots. The slots' fees are cached for ``PRIORITY_FEE_TTL_SECONDS``."""
        return nearest_rank(await self._recent_fees(tuple(sorted(set(accounts)))), percentile)

    async def token_balances(self, owner: str) -> dict[str, int]:
        """Raw balance per mint over every token account the owner has, under both token programs."""
        owner_key = Pubkey.from_string(owner)
        results = await asyncio.gather(*[
            self._read("getTokenAccountsByOwner", functools.partial(
                AsyncClient.get_token_accounts_by_owner_json_parsed, owner=owner_key,
                opts=TokenAccountOpts(program_id=program)))
            for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
        ])
        balances: dict[str, int] = {}
        for response in results:
            for account in response.value:
                mint, amount = _parsed_token_amount(account)
                balances[mint] = balances.get(mint, 0) + amount
        return balances

    async def token_balance(self, owner: str, mint: str) -> int:
        return await self.token_balance_or_none(owner, mint) or 0

    async def token_balance_or_none(self, owner: str, mint: str) -> int | None:
        """Raw balance of ``mint`` held by ``owner``; None when the owner has no token account for it at all."""
        opts = TokenAccountOpts(mint=Pubkey.from_string(mint))
        response = await self._read("getTokenAccountsByOwner", lambda c: c.get_token_accounts_by_owner_json_parsed(
            Pubkey.from_string(owner), opts))
        if not response.value:
            return None
        return sum(_parsed_token_amount(account)[1] for account in response.value)

    async def mint_info(self, mint: str) -> MintInfo | None:
        """The mint account, or None if no such account exists or it is not a token mint."""
        response = await self._read("getAccountInfo",
                                    lambda c: c.get_account_info(Pubkey.from_string(mint)))
        account = response.value
        if account is None or account.owner not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            return None
        try:
            parsed = Mint.from_bytes(bytes(account.data)[:82])
        except ValueError:
            return None
        if not parsed.is_initialized:
            return None
        return MintInfo(address=mint, decimals=parsed.decimals, supply=parsed.supply, program_id=str(account.owner),
                        mint_authority=_optional_key(parsed.mint_authority),
                        freeze_authority=_optional_key(parsed.freeze_authority),
                        extensions=mint_extensions(bytes(account.data)))

    async def holdings(self, owner: str) -> Holdings:
        """The owner's SOL and every token account under both token programs, read in parallel."""
        owner_key = Pubkey.from_string(owner)
        accounts = [
            self._read("getTokenAccountsByOwner", functools.partial(
                AsyncClient.get_token_accounts_by_owner, owner=owner_key,
                opts=TokenAccountOpts(program_id=program, encoding="base64")))
            for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)]
        balance, responses = await asyncio.gather(self.sol_balance(owner), asyncio.gather(*accounts))
        tokens = {}
        for response in responses:
            for keyed in response.value:
                held = parse_token_account(keyed.account)
                if held is not None:
                    tokens[str(keyed.pubkey)] = held
        return Holdings(sol=balance, tokens=tokens)

    async def lookup_tables(self, addresses: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The addresses held by each address lookup table (absent: no such table). A table read in the last
        ``LOOKUP_TABLE_TTL_SECONDS`` is answered from memory."""
        now = time.monotonic()
        tables = {}
        for address in dict.fromkeys(addresses):
            cached = self._table_cache.get(address)
            if cached is not None and now - cached[0] < LOOKUP_TABLE_TTL_SECONDS:
                tables[address] = cached[1]
        missing = [address for address in dict.fromkeys(addresses) if address not in tables]
        chunks = [missing[i:i + MULTIPLE_ACCOUNTS_LIMIT] for i in range(0, len(missing), MULTIPLE_ACCOUNTS_LIMIT)]
        keys = [[Pubkey.from_string(key) for key in chunk] for chunk in chunks]  # a bad address fails before any read
        responses = await asyncio.gather(*[
            self._read("getMultipleAccounts", functools.partial(AsyncClient.get_multiple_accounts, pubkeys=chunk_keys))
            for chunk_keys in keys])
        if len(self._table_cache) >= LOOKUP_TABLE_CACHE_SIZE:
            self._table_cache.clear()  # bounded, as the fee cache: the next reads refill what is still traded
        for chunk, response in zip(chunks, responses, strict=True):
            for address, account in zip(chunk, response.value, strict=True):
                if account is None or str(account.owner) != LOOKUP_TABLE_PROGRAM_ID:
                    continue
                try:
                    table = AddressLookupTable.deserialize(bytes(account.data))
                except ValueError:
                    continue
                tables[address] = tuple(str(key) for key in table.addresses)
                self._table_cache[address] = (now, tables[address])
        return tables

    async def simulate(self, transaction: VersionedTransaction, *, accounts: Sequence[str]) -> Simulation:
        """Simulate an unsigned transaction against the current state and return the listed accounts as they would
        be after it. It runs on the node's own recent blockhash: the swap's came from whichever node the swap API
        asked, which may be slots ahead of this one ("Blockhash not found" says nothing of what the swap does), and
        whether the swap's blockhash is still good is for landing to find out (its last valid block height)."""
        keys = [Pubkey.from_string(key) for key in accounts]
        try:
            response = await self._read("simulateTransaction", lambda c: c.simulate_transaction(
                transaction, sig_verify=False, commitment=Confirmed, replace_recent_blockhash=True,
                accounts_addresses=keys or None))
        except RPCException as err:
            raise ChainUnavailable(f"simulateTransaction refused: {_rejection(err).reason[:200]}") from None
        value = response.value
        after = dict(zip(accounts, value.accounts or [None] * len(accounts), strict=True))
        return Simulation(err=None if value.err is None else _error_text(value.err), logs=list(value.logs or []),
                          accounts=after, units=value.units_consumed or 0)

    async def signature_statuses(self, signatures: Sequence[str]) -> list[TransactionStatus | None]:
        keys = [Signature.from_string(s) for s in signatures]
        response = await self._read("getSignatureStatuses",
                                    lambda c: c.get_signature_statuses(keys, search_transaction_history=True))
        return list(response.value)

    async def transaction_effects(self, signature: str, *, owner: str, mint: str,
                                  tip_accounts: Collection[str] = ()) -> TransactionEffects | None:
        """Read what a landed transaction moved for ``owner`` (and paid to any of ``tip_accounts``); None if the
        node does not know it (yet)."""
        response = await self._read("getTransaction", lambda c: c.get_transaction(
            Signature.from_string(signature), encoding="json", commitment=Confirmed,
            max_supported_transaction_version=0))
        if response.value is None:
            return None
        return _effects(response.value.transaction, owner=owner, mint=mint, tip_accounts=tip_accounts)

    # Writes.

    async def send(self, transaction: VersionedTransaction, *, skip_preflight: bool = False) -> str:
        """Send a signed transaction; resending the same bytes is harmless (same signature), so timeouts retry."""
        opts = TxOpts(skip_preflight=skip_preflight, preflight_commitment=Confirmed, max_retries=0)
        payload = bytes(transaction)
        client = self._read_order()[0].client  # the first node not benched: its preflight is the one that counts
        try:
            send = functools.partial(self._counted, "sendTransaction",
                                     lambda: client.send_raw_transaction(payload, opts))
            await self._sends.call(send, on_retry=functools.partial(_log_retry, "sendTransaction"))
        except SolanaRpcException as err:
            raise ChainUnavailable(f"sendTransaction failed: {_describe(err)}") from None
        except RPCException as err:
            rejection = _rejection(err)
            if "AlreadyProcessed" not in rejection.reason and "already been processed" not in rejection.reason:
                raise rejection from None
            # A retried send whose first attempt had landed: the transaction is on chain, which is success.
        return str(transaction.signatures[0])

    async def land(self, transaction: VersionedTransaction, *, last_valid_block_height: int,
                   on_sent: Callable[[], Awaitable[None]] | None = None,
                   on_resent: Callable[[], None] | None = None,
                   deadline_seconds: float = 90.0, block_engine: BlockEngineClient | None = None) -> Confirmation:
        """Send a signed transaction and see it through: confirmed, failed, or expired with nothing moved.

        The first send runs preflight (see ``_first_send``): a refusal raises ``TransactionRejected`` (nothing was
        sent). ``on_sent`` is awaited once it has gone (or may have). Then, while confirming, the same bytes are
        sent again every ``rebroadcast_seconds`` (no preflight, no retries by the node; ``on_resent`` is called after
        each round): leaders drop transactions under congestion, and only a resend can land a dropped one. The same
        bytes are the same transaction, so it lands once at most. Raises ``ChainError`` when the outcome could not
        be learnt (the node kept failing).

        With ``block_engine`` (MEV protection) the transaction never goes to a public endpoint, where sandwichers
        watch: see ``_land_privately``."""
        if block_engine is not None:
            return await self._land_privately(transaction, block_engine, on_sent=on_sent, on_resent=on_resent,
                                              last_valid_block_height=last_valid_block_height,
                                              deadline_seconds=deadline_seconds)
        signature = str(transaction.signatures[0])
        try:
            await self._first_send(transaction)
        except TransactionRejected:
            raise
        except ChainError as err:
            logger.warning("Send of %s unconfirmed (%s); confirming anyway", signature, err)
        if self._send_only or len(self._nodes) > 1:  # only after preflight passed: never land what it refused
            await self._copies(signature, bytes(transaction), self._endpoints())
        if on_sent is not None:
            await on_sent()
        resend = bytes(transaction) if self.rebroadcast_seconds > 0 else None
        return await self._confirm(signature, last_valid_block_height=last_valid_block_height, resend=resend,
                                   on_resent=on_resent, deadline_seconds=deadline_seconds)

    async def resume(self, payload: bytes, *, last_valid_block_height: int,
                     deadline_seconds: float = 90.0) -> Confirmation:
        """See through a transaction an earlier process signed and may have sent before it died: the same bytes go
        to every endpoint again (no preflight: it may have landed already), and on until it is confirmed, failed,
        or expired, as ``land`` does."""
        signature = str(VersionedTransaction.from_bytes(payload).signatures[0])
        await self._copies(signature, payload, self._endpoints())
        resend = payload if self.rebroadcast_seconds > 0 else None
        return await self._confirm(signature, last_valid_block_height=last_valid_block_height, resend=resend,
                                   on_resent=None, deadline_seconds=deadline_seconds)

    async def _first_send(self, transaction: VersionedTransaction) -> None:
        """Send with preflight, so that a transaction bound to fail is refused before it costs a fee. A node that
        has not yet seen the transaction's blockhash (it lags the node the swap API took it from, by a slot or two)
        cannot preflight it: then it goes out unchecked. That refusal says nothing about what the transaction does,
        and an expired blockhash is caught by landing anyway (the block height passing the last valid one)."""
        try:
            await self.send(transaction)
        except TransactionRejected as rejected:
            if not rejected.is_blockhash_not_found:
                raise
            logger.info("Node has not seen the blockhash of %s yet; sending it without preflight",
                        transaction.signatures[0])
            await self.send(transaction, skip_preflight=True)

    async def _land_privately(self, transaction: VersionedTransaction, block_engine: BlockEngineClient, *,
                              last_valid_block_height: int, on_sent: Callable[[], Awaitable[None]] | None,
                              on_resent: Callable[[], None] | None, deadline_seconds: float) -> Confirmation:
        """``land`` through a block engine, with the same guarantees. Preflight is a simulation on the RPC (a
        sendTransaction there would publish it); a failure raises ``TransactionRejected`` and nothing is sent, as
        does the engine's refusal of the bundle. Then the same bytes go again as the same bundle every
        ``rebroadcast_seconds`` (bundles lose auctions as transactions are dropped) until the RPC reports the
        signature confirmed, or the blockhash expired with it unlanded. A resend that fails is no news. As in
        ``_first_send``, a node that has not seen the blockhash yet cannot judge the transaction: it goes anyway."""
        signature, payload = str(transaction.signatures[0]), bytes(transaction)
        try:
            response = await self._read("simulateTransaction", lambda c: c.simulate_transaction(
                transaction, sig_verify=True, commitment=Confirmed))
        except RPCException as err:
            raise _rejection(err) from None
        except ChainError as err:
            logger.warning("Preflight of %s unanswered (%s); the block engine simulates it too", signature, err)
        else:
            if response.value.err is not None:
                rejected = TransactionRejected(f"Transaction simulation failed: {_error_text(response.value.err)}",
                                               list(response.value.logs or []))
                if not rejected.is_blockhash_not_found:
                    raise rejected
                logger.info("Node has not seen the blockhash of %s yet; bundling it unchecked", signature)
        try:
            await block_engine.send_bundle([payload])
        except TransactionRejected:
            raise
        except ChainError as err:
            logger.warning("Bundle of %s unconfirmed (%s); confirming anyway", signature, err)
        if on_sent is not None:
            await on_sent()
        return await self._confirm(signature, last_valid_block_height=last_valid_block_height,
                                   resend=payload if self.rebroadcast_seconds > 0 else None, on_resent=on_resent,
                                   deadline_seconds=deadline_seconds, via=block_engine)

    async def _confirm(self, signature: str, *, last_valid_block_height: int, resend: bytes | None,
                       on_resent: Callable[[], None] | None, deadline_seconds: float,
                       via: BlockEngineClient | None = None) -> Confirmation:
        """Wait until the transaction is confirmed, failed, or its blockhash has expired without it landing,
        resending ``resend`` on the way. Only the block height passing the last valid one (read at the commitment
        the blockhash came from) proves it will never land; what a resend meets is no news about it."""
        started = last_sent = time.monotonic()
        for attempt in itertools.count():
            status = (await self.signature_statuses([signature]))[0]
            if status is not None and _is_confirmed(status):
                return _settled(status)
            if attempt % 4 == 3 and await self.block_height() > last_valid_block_height:
                return await self._final_check(signature)
            if time.monotonic() - started > deadline_seconds:
                raise ChainUnavailable(f"transaction {signature} not confirmed within {deadline_seconds:.0f} s")
            wait = CONFIRM_SCHEDULE[min(attempt, len(CONFIRM_SCHEDULE) - 1)]
            if resend is not None:
                if time.monotonic() - last_sent >= self.rebroadcast_seconds:
                    await self._resend(signature, resend, via)
                    last_sent = time.monotonic()
                    if on_resent is not None:
                        on_resent()
                wait = min(wait, max(0.0, last_sent + self.rebroadcast_seconds - time.monotonic()))
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _resend(self, signature: str, payload: bytes, via: BlockEngineClient | None = None) -> None:
        if via is None:
            await self._copies(signature, payload, self._endpoints())
            return
        try:
            await via.send_bundle([payload])
        # As for a copy: whatever a resend meets (even a refusal) must never fail a bundle that may still land.
        except Exception as err:
            logger.info("Bundle resend of %s not taken (%s); still confirming", signature, err)

    def _endpoints(self) -> list[AsyncClient]:
        return [node.client for node in self._nodes] + self._send_only

    async def _copies(self, signature: str, payload: bytes, clients: Sequence[AsyncClient]) -> None:
        """The same bytes to each endpoint at once (no preflight, no retries by the node)."""
        opts = TxOpts(skip_preflight=True, max_retries=0)

        async def copy(client: AsyncClient) -> None:
            try:
                await self._counted("sendTransaction", lambda: client.send_raw_transaction(payload, opts))
            # Any failure of a copy (HTTP, the node's refusal, an answer solana-py cannot parse) must never fail a
            # transaction an earlier copy may still land: only confirmation decides.
            except Exception as err:
                logger.info("Resend of %s not taken (%s); still confirming", signature, _describe(err))

        await asyncio.gather(*(copy(client) for client in clients))

    async def _final_check(self, signature: str) -> Confirmation:
        """The blockhash expired: one last look, since it may have landed just before."""
        status = (await self.signature_statuses([signature]))[0]
        if status is not None:
            return _settled(status)
        return Confirmation(Outcome.EXPIRED, "blockhash expired before the transaction landed")

    async def _recent_fees(self, accounts: tuple[str, ...]) -> tuple[int, ...]:
        """The recent slots' prioritization fees, sorted; one read per account set every few seconds."""
        cached = self._fee_cache.get(accounts)
        if cached is not None and time.monotonic() - cached[0] < PRIORITY_FEE_TTL_SECONDS:
            return cached[1]
        keys = [Pubkey.from_string(key) for key in accounts]
        response = await self._read("getRecentPrioritizationFees",
                                    lambda c: c.get_recent_prioritization_fees(keys or None))
        fees = tuple(sorted(int(entry.prioritization_fee) for entry in response.value))
        if len(self._fee_cache) >= PRIORITY_FEE_CACHE_SIZE:
            self._fee_cache.clear()  # crude, but bounded: the next reads refill what is still traded
        self._fee_cache[accounts] = (time.monotonic(), fees)
        return fees

    async def _read(self, method: str, call: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """``call`` on a node: the first not benched, then, each time one fails transiently, the next (one node:
        the same node again), waiting between attempts as the retry policy says."""
        order = self._read_order()
        attempts = itertools.count()

        async def attempt() -> T:
            node = order[next(attempts) % len(order)]
            try:
                answer = await self._answer(method, lambda: call(node.client))
            except Exception as err:
                if len(self._nodes) > 1 and is_transient(err):
                    node.bench(err)
                raise
            node.benched_until = 0.0
            return answer

        try:
            return await self._reads.call(attempt, on_retry=functools.partial(_log_retry, method))
        except (SolanaRpcException, UnknownRpcError) as err:
            raise ChainUnavailable(f"{method} failed: {_describe(err)}") from None
        except RPCException as err:
            if not is_transient(err):
                raise  # the node's answer (bad params, no such block...): the caller's to read, as it always was
            raise ChainUnavailable(f"{method} failed: {_describe(err)}") from None

    def _read_order(self) -> list[_Node]:
        """Nodes in configured order, those benched after a recent failure last (still tried if all are)."""
        now = time.monotonic()
        return sorted(self._nodes, key=lambda node: node.benched_until > now)

    async def _answer(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        response = await self._counted(method, call)
        if isinstance(response, int):  # solders parses an error answer whose code it does not know to the bare code
            raise UnknownRpcError(response)
        return response

    @staticmethod
    async def _counted(method: str, call: Callable[[], Awaitable[T]]) -> T:
        RPC_REQUESTS.labels(method=method).inc()
        return await call()


NODE_BENCH_SECONDS = 10.0  # a full node that failed is asked last for this long


class _Node:
    """A full node and how it has been doing."""

    def __init__(self, url: str, client: AsyncClient) -> None:
        self.url, self.client = url, client
        self.benched_until = 0.0

    def bench(self, err: BaseException) -> None:
        if self.benched_until <= time.monotonic():
            logger.warning("Solana RPC node %s failed (%s); reading from the others for %.0f s", self.url,
                           _describe(err), NODE_BENCH_SECONDS)
        self.benched_until = time.monotonic() + NODE_BENCH_SECONDS


def _bare(urls: Sequence[str]) -> set[str]:
    return {url.rstrip("/") for url in urls}


def _distinct(urls: Sequence[str]) -> list[str]:
    seen: dict[str, str] = {}
    for url in urls:
        seen.setdefault(url.rstrip("/"), url)
    return list(seen.values())


def nearest_rank(ordered: Sequence[int], percentile: int) -> int:
    """The value ``percentile`` percent of ``ordered`` (ascending) are at or under, by nearest rank; 0 when empty."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be from 1 to 100, not {percentile}")
    if not ordered:
        return 0
    rank = -(-percentile * len(ordered) // 100)  # rounded up, in integers: the 95th of 150 slots is the 143rd
    return ordered[rank - 1]


def _log_retry(method: str, err: BaseException, attempt: int, delay: float) -> None:
    logger.warning("Solana RPC %s failed (%s); retry %d in %.2f s", method, _describe(err), attempt, delay)


def _describe(err: BaseException) -> str:
    if isinstance(err, RPCException):
        return _rejection(err).reason[:200]
    if isinstance(err, UnknownRpcError):
        return str(err)
    cause = err.__cause__
    if isinstance(cause, httpx2.HTTPStatusError):
        return f"HTTP {cause.response.status_code}"
    if isinstance(cause, httpx2.TimeoutException):
        return "timed out"
    return type(cause).__name__ if cause else str(err)


def _rejection(err: RPCException) -> TransactionRejected:
    payload = err.args[0] if err.args else err
    message = getattr(payload, "message", str(payload))
    data = getattr(payload, "data", None)
    logs = list(getattr(data, "logs", None) or [])
    inner = getattr(data, "err", None)
    reason = f"{message}: {_error_text(inner)}" if inner is not None else str(message)
    return TransactionRejected(reason, logs)


def _settled(status: TransactionStatus) -> Confirmation:
    return Confirmation(Outcome.FAILED, _error_text(status.err)) if status.err else Confirmation(Outcome.CONFIRMED)


def _is_confirmed(status: TransactionStatus) -> bool:
    return status.confirmation_status in (TransactionConfirmationStatus.Confirmed,
                                          TransactionConfirmationStatus.Finalized)


def _error_text(err: object) -> str:
    return "" if err is None else str(err)


ACCOUNT_TYPE_OFFSET = 165  # Token-2022: base mint (82 bytes) or token account padded to 165 bytes, then the type
ACCOUNT_TYPE_MINT, ACCOUNT_TYPE_ACCOUNT = 1, 2
TRANSFER_FEE_AMOUNT = 2  # the token account extension holding the transfer fees withheld in it (u64)


def mint_extensions(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """The Token-2022 extensions of a mint account (type-length-value entries after the account-type byte)."""
    return _extensions(data, ACCOUNT_TYPE_MINT)


def _extensions(data: bytes, account_type: int) -> tuple[tuple[int, bytes], ...]:
    if len(data) <= ACCOUNT_TYPE_OFFSET or data[ACCOUNT_TYPE_OFFSET] != account_type:
        return ()
    entries = []
    offset = ACCOUNT_TYPE_OFFSET + 1
    while offset + 4 <= len(data):
        kind = int.from_bytes(data[offset:offset + 2], "little")
        length = int.from_bytes(data[offset + 2:offset + 4], "little")
        if kind == 0 and length == 0:
            break  # zero padding
        entries.append((kind, data[offset + 4:offset + 4 + length]))
        offset += 4 + length
    return tuple(entries)


def _withheld_fee(data: bytes) -> int:
    """Transfer fees withheld in a Token-2022 token account (its TransferFeeAmount extension), else 0."""
    value = dict(_extensions(data, ACCOUNT_TYPE_ACCOUNT)).get(TRANSFER_FEE_AMOUNT, b"")
    return int.from_bytes(value[:8], "little")


def _optional_key(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def _effects(encoded: EncodedTransactionWithStatusMeta, *, owner: str, mint: str,
             tip_accounts: Collection[str] = ()) -> TransactionEffects:
    meta, transaction = encoded.meta, encoded.transaction
    if meta is None or not isinstance(transaction, UiTransaction):  # read with encoding="json": never on a node
        raise ChainUnavailable("getTransaction answered without the transaction's message or metadata")
    keys = [str(key) for key in transaction.message.account_keys]
    if meta.loaded_addresses is not None:
        keys += [str(k) for k in meta.loaded_addresses.writable] + [str(k) for k in meta.loaded_addresses.readonly]
    sol_change = 0
    if owner in keys:
        index = keys.index(owner)
        sol_change = meta.post_balances[index] - meta.pre_balances[index]
    before = _token_accounts(meta.pre_token_balances, owner, mint)
    after = _token_accounts(meta.post_token_balances, owner, mint)
    # A token account is listed only while it exists: one only after was created here, one only before was closed.
    rent_paid = sum(meta.post_balances[i] - meta.pre_balances[i] for i in after - before)
    rent_returned = sum(meta.pre_balances[i] - meta.post_balances[i] for i in before - after)
    return TransactionEffects(
        fee_lamports=meta.fee,
        sol_change_lamports=sol_change,
        token_change_raw=_token_total(meta.post_token_balances, owner, mint) -
        _token_total(meta.pre_token_balances, owner, mint),
        error=_error_text(meta.err),
        rent_paid_lamports=rent_paid,
        rent_returned_lamports=rent_returned,
        tip_lamports=sum(max(meta.post_balances[index] - meta.pre_balances[index], 0)
                         for index, key in enumerate(keys) if key in tip_accounts),
    )


def _parsed_token_amount(keyed: RpcKeyedAccountJsonParsed) -> tuple[str, int]:
    """(mint, raw amount) of a token account read with the jsonParsed encoding."""
    parsed: Any = keyed.account.data.parsed  # the node's JSON, shaped by the token program
    info = parsed["info"]
    return info["mint"], int(info["tokenAmount"]["amount"])


def _token_accounts(balances: Sequence[UiTransactionTokenBalance] | None, owner: str, mint: str) -> set[int]:
    """Indexes of the owner's token accounts for ``mint`` listed in a transaction's token balances."""
    return {b.account_index for b in balances or [] if str(b.mint) == mint and str(b.owner) == owner}


def _token_total(balances: Sequence[UiTransactionTokenBalance] | None, owner: str, mint: str) -> int:
    return sum(int(b.ui_token_amount.amount) for b in balances or []
               if str(b.mint) == mint and str(b.owner) == owner)
