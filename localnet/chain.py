"""The local chain: LiteSVM plus what a validator adds around it (block height, blockhash expiry, history with
balances, a swap program emulated at landing time). Thread-safe: one lock guards the SVM."""

from __future__ import annotations

import base64
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTableAccount, derive_lookup_table_address
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import CreateAccountParams, create_account
from solders.token.associated import get_associated_token_address
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

BLOCKHASH_VALIDITY = 150  # blocks, as on mainnet
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
JUPITER_PROGRAM_ID = Pubkey.from_string("JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4")
ADDRESS_LOOKUP_TABLE_PROGRAM_ID = Pubkey.from_string("AddressLookupTab1e1111111111111111111111111")
COMPUTE_BUDGET_PROGRAM_ID = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
LOOKUP_TABLE_META_SIZE = 56
U64_MAX = 2**64 - 1
SLIPPAGE_ERROR = 6001  # Jupiter's SlippageToleranceExceeded (0x1771)


class RouteRefused(Exception):
    """Raised by the route handler: the route program fails with this custom error (e.g. slippage)."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.name, self.message = code, name, message


@dataclass
class Landed:
    """A transaction in the history, with everything getTransaction and getSignatureStatuses report."""

    signature: str
    slot: int
    block_height: int
    transaction: VersionedTransaction
    fee: int
    err: object | None  # JSON-shaped error or None
    logs: list[str]
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[dict]
    post_token_balances: list[dict]
    compute_units: int
    loaded_writable: list[Pubkey] = field(default_factory=list)
    loaded_readonly: list[Pubkey] = field(default_factory=list)

    @property
    def keys(self) -> list[Pubkey]:
        """Static keys, then loaded writable, then loaded readonly: the order balances are reported in."""
        return list(self.transaction.message.account_keys) + self.loaded_writable + self.loaded_readonly


@dataclass
class SendResult:
    signature: str
    err: object | None = None
    logs: list[str] = field(default_factory=list)
    units: int = 0
    accounts: list[Account | None] | None = None  # simulation only: the requested accounts afterwards


@dataclass
class Loaded:
    """A transaction as the runtime loads it: every key (static + lookups) and its decompiled instructions."""

    keys: list[Pubkey]
    writable: list[Pubkey]
    readonly: list[Pubkey]
    tables: list[AddressLookupTableAccount]
    instructions: list[Instruction]


@dataclass
class Outcome:
    err: object | None
    logs: list[str]
    units: int
    fee: int
    post_accounts: dict[Pubkey, Account] | None


class Chain:
    def __init__(self) -> None:
        # Signatures and blockhashes are checked by _precheck on the transaction as sent; LiteSVM then runs the
        # transaction or, for a swap, the internal one that carries out its route instruction.
        self._svm = LiteSVM().with_blockhash_check(False).with_sigverify(False)
        self._lock = threading.RLock()
        self.slot = 1
        self.block_height = 1
        self._blockhashes: dict[str, int] = {}
        self._latest = self._new_blockhash()
        self.history: dict[str, Landed] = {}
        self._drop_next = 0
        self.dropped: set[str] = set()
        # Each sendTransaction attempt is lost with this probability, as leaders drop transactions under congestion;
        # a later attempt with the same bytes may land. Seeded, so a run can be repeated.
        self.drop_rate = 0.0
        self._drop_random = random.Random(0)
        # Set by the swap venue: the real instructions a Jupiter route instruction stands for, decided at
        # execution time against live reserves (raises RouteRefused, e.g. for slippage).
        self.route_handler: Callable[[Instruction], list[Instruction]] | None = None
        # Set by localnet.hostile: a slot clock produces the blocks (a landed transaction joins the current slot),
        # and a journal hears what each landing transaction found in its accounts (a lagging node's old state).
        self.clock_running = False
        self.on_landing: Callable[[int, dict[Pubkey, Account | None]], None] | None = None

    @property
    def lock(self) -> threading.RLock:
        """Held, nothing else lands: what lets a sandwicher see a transaction and land around it in one go, and
        localnet.state read every account at one moment."""
        return self._lock

    # Blocks and blockhashes.

    def _new_blockhash(self) -> str:
        self._svm.expire_blockhash()
        latest = str(self._svm.latest_blockhash())
        self._blockhashes[latest] = self.block_height + BLOCKHASH_VALIDITY
        return latest

    def latest_blockhash(self) -> tuple[str, int]:
        with self._lock:
            return self._latest, self._blockhashes[self._latest]

    def blockhash_at(self, height: int) -> tuple[str, int]:
        """The latest blockhash a node at block ``height`` knows, with its last valid block height."""
        with self._lock:
            for blockhash, valid_until in reversed(self._blockhashes.items()):
                if valid_until - BLOCKHASH_VALIDITY <= height:
                    return blockhash, valid_until
            return self._latest, self._blockhashes[self._latest]

    def blockhash_height(self, blockhash: str) -> int | None:
        """The block height at which ``blockhash`` was produced; None if this chain never produced it."""
        with self._lock:
            valid_until = self._blockhashes.get(blockhash)
        return None if valid_until is None else valid_until - BLOCKHASH_VALIDITY

    def advance_blocks(self, count: int = 1) -> None:
        with self._lock:
            for _ in range(count):
                self.slot += 1
                self.block_height += 1
            self._latest = self._new_blockhash()
            self._svm.warp_to_slot(self.slot)

    def expire_blockhashes(self) -> None:
        self.advance_blocks(BLOCKHASH_VALIDITY + 1)

    def drop_next_transactions(self, count: int) -> None:
        """Blackhole the next ``count`` transactions sent: each is accepted and never lands, whatever is resent
        (its signature is remembered as dropped). Tests use it for "sent but never landed"; ``drop_rate`` is the
        mainnet-like drop a resend can beat."""
        with self._lock:
            self._drop_next += count

    def set_drop_rate(self, rate: float, *, seed: int = 0) -> None:
        """Drop each sendTransaction attempt with probability ``rate`` (0 to 1), drawn from a generator seeded
        with ``seed``."""
        if not 0 <= rate <= 1:
            raise ValueError(f"drop rate {rate} is not between 0 and 1")
        with self._lock:
            self.drop_rate = rate
            self._drop_random = random.Random(seed)

    # Accounts.

    def account(self, pubkey: Pubkey | str) -> Account | None:
        with self._lock:
            return self._svm.get_account(_key(pubkey))

    def set_account(self, pubkey: Pubkey | str, account: Account) -> None:
        with self._lock:
            self._svm.set_account(_key(pubkey), account)

    def sol_balance(self, pubkey: Pubkey | str) -> int:
        with self._lock:
            return self._svm.get_balance(_key(pubkey)) or 0

    def airdrop(self, pubkey: Pubkey | str, lamports: int) -> None:
        with self._lock:
            result = self._svm.airdrop(_key(pubkey), lamports)
            if hasattr(result, "err"):
                raise RuntimeError(f"airdrop failed: {result.err()}")

    def rent_exempt(self, size: int) -> int:
        with self._lock:
            return self._svm.minimum_balance_for_rent_exemption(size)

    def program_accounts(self, program: Pubkey) -> list[tuple[Pubkey, Account]]:
        with self._lock:
            return list(self._svm.get_program_accounts(program))

    def token_accounts(self, owner: Pubkey | str, *, mint: str | None = None,
                       program: Pubkey | None = None) -> list[tuple[Pubkey, Account, TokenAccount]]:
        owner = _key(owner)
        found = []
        for token_program in (program,) if program else TOKEN_PROGRAMS:
            for address, account in self.program_accounts(token_program):
                parsed = _token_account(account)
                if parsed and parsed.owner == owner and (mint is None or str(parsed.mint) == mint):
                    found.append((address, account, parsed))
        return found

    def token_balance(self, owner: Pubkey | str, mint: str) -> int:
        return sum(parsed.amount for _, _, parsed in self.token_accounts(owner, mint=mint))

    def mint(self, mint: Pubkey | str) -> Mint | None:
        account = self.account(mint)
        if account is None or account.owner not in TOKEN_PROGRAMS:
            return None
        return Mint.from_bytes(bytes(account.data)[:82])

    def create_mint(self, *, decimals: int, mint_authority: Pubkey | None, freeze_authority: Pubkey | None,
                    program: Pubkey = TOKEN_PROGRAM_ID, keypair: Keypair | None = None) -> Pubkey:
        address = (keypair or Keypair()).pubkey()
        data = bytes(Mint(mint_authority=mint_authority, supply=0, decimals=decimals, is_initialized=True,
                          freeze_authority=freeze_authority))
        self.set_account(address, Account(lamports=self.rent_exempt(len(data)), data=data, owner=program,
                                          executable=False))
        return address

    def create_mint_2022(self, *, decimals: int, mint_authority: Pubkey | None, freeze_authority: Pubkey | None,
                         extensions: Token2022Extensions) -> Pubkey:
        """A Token-2022 mint made by the real Token-2022 program: create the account, initialise each extension,
        then InitializeMint2, in one transaction, exactly as a token creator would."""
        payer, mint = Keypair(), Keypair()
        self.airdrop(payer.pubkey(), 10**9)
        size = 165 + 1 + sum(4 + length for length in extensions.lengths())
        instructions = [create_account(CreateAccountParams(
            from_pubkey=payer.pubkey(), to_pubkey=mint.pubkey(), lamports=self.rent_exempt(size), space=size,
            owner=TOKEN_2022_PROGRAM_ID))]
        writable_mint = [AccountMeta(mint.pubkey(), False, True)]
        instructions += [Instruction(TOKEN_2022_PROGRAM_ID, data, writable_mint)
                         for data in extensions.instruction_data()]
        initialize_mint = bytes([20, decimals]) + bytes(mint_authority or Pubkey.default()) + _coption(freeze_authority)
        instructions.append(Instruction(TOKEN_2022_PROGRAM_ID, initialize_mint, writable_mint))
        blockhash, _ = self.latest_blockhash()
        message = MessageV0.try_compile(payer.pubkey(), instructions, [], Hash.from_string(blockhash))
        result = self.send(VersionedTransaction(message, [payer, mint]))
        if result.err is not None:
            raise RuntimeError(f"creating the Token-2022 mint failed: {result.err} {result.logs}")
        if mint_authority is None:  # InitializeMint2 needs an authority; revoke by clearing it like SetAuthority
            account = self.account(mint.pubkey())
            data = bytearray(bytes(account.data))
            data[0:36] = bytes(36)
            self.set_account(mint.pubkey(), Account(lamports=account.lamports, data=bytes(data),
                                                    owner=account.owner, executable=False))
        return mint.pubkey()

    def mint_to(self, mint: Pubkey, owner: Pubkey, amount: int) -> Pubkey:
        """Credit ``amount`` to the owner's associated token account (created if missing), raising the supply."""
        with self._lock:
            mint_account = self.account(mint)
            program = mint_account.owner
            state = Mint.from_bytes(bytes(mint_account.data)[:82])
            supply = state.supply + amount
            base = bytes(Mint(state.mint_authority, supply, state.decimals, True, state.freeze_authority))
            self.set_account(mint, Account(lamports=mint_account.lamports, owner=program, executable=False,
                                           data=base + bytes(mint_account.data)[82:]))  # keeps any extensions
            ata = get_associated_token_address(owner, mint, program)
            existing = self.account(ata)
            balance = _token_account(existing).amount if existing else 0
            data = bytes(TokenAccount(mint=mint, owner=owner, amount=balance + amount, delegate=None,
                                      state=TokenAccountState.Initialized, is_native=None, delegated_amount=0,
                                      close_authority=None))
            self.set_account(ata, Account(lamports=self.rent_exempt(len(data)), data=data, owner=program,
                                          executable=False))
            return ata

    # Address Lookup Tables.

    def create_lookup_table(self, authority: Pubkey, addresses: list[Pubkey]) -> Pubkey:
        """Write an Address Lookup Table with the real on-chain layout, extended now; usable from the next slot
        (a block is produced so that it is, as on mainnet)."""
        with self._lock:
            address, _ = derive_lookup_table_address(authority, self.slot)
            data = lookup_table_data(addresses, last_extended_slot=self.slot, authority=authority)
            self.set_account(address, Account(lamports=self.rent_exempt(len(data)), data=data,
                                              owner=ADDRESS_LOOKUP_TABLE_PROGRAM_ID, executable=False))
            self.advance_blocks(1)
            return address

    def lookup_table(self, address: Pubkey) -> list[Pubkey] | None:
        """The table's addresses usable at the current slot; None if the account is not a lookup table."""
        account = self.account(address)
        if account is None or account.owner != ADDRESS_LOOKUP_TABLE_PROGRAM_ID:
            return None
        data = bytes(account.data)
        if len(data) < LOOKUP_TABLE_META_SIZE or int.from_bytes(data[0:4], "little") != 1:
            return None
        addresses = [Pubkey.from_bytes(data[i:i + 32]) for i in range(LOOKUP_TABLE_META_SIZE, len(data) - 31, 32)]
        last_extended_slot = int.from_bytes(data[12:20], "little")
        if self.slot <= last_extended_slot:  # entries added in the current slot are not active yet
            addresses = addresses[:data[20]]
        return addresses

    def load(self, transaction: VersionedTransaction) -> Loaded | str:
        """The transaction as the runtime would load it now (lookups resolved), or the error that stops it."""
        with self._lock:
            return self._load(transaction)

    def _load(self, transaction: VersionedTransaction) -> Loaded | str:
        """Resolve the message's lookups and decompile its instructions (what the runtime loads)."""
        message = transaction.message
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        tables = []
        for lookup in getattr(message, "address_table_lookups", None) or []:
            addresses = self.lookup_table(lookup.account_key)
            if addresses is None:
                return "AddressLookupTableNotFound"
            indexes = list(lookup.writable_indexes) + list(lookup.readonly_indexes)
            if any(index >= len(addresses) for index in indexes):
                return "InvalidAddressLookupTableIndex"
            writable += [addresses[index] for index in lookup.writable_indexes]
            readonly += [addresses[index] for index in lookup.readonly_indexes]
            tables.append(AddressLookupTableAccount(lookup.account_key, addresses))
        static = list(message.account_keys)
        keys = static + writable + readonly
        header = message.header
        signed, unsigned = header.num_required_signatures, len(static) - header.num_readonly_unsigned_accounts

        def meta(index: int) -> AccountMeta:
            if index < len(static):
                is_writable = (index < signed - header.num_readonly_signed_accounts
                               or signed <= index < unsigned)
            else:
                is_writable = index < len(static) + len(writable)
            return AccountMeta(keys[index], index < signed, is_writable)

        instructions = []
        for compiled in message.instructions:
            if compiled.program_id_index >= len(keys) or any(i >= len(keys) for i in compiled.accounts):
                return "SanitizeFailure"
            instructions.append(Instruction(keys[compiled.program_id_index], bytes(compiled.data),
                                            [meta(i) for i in compiled.accounts]))
        return Loaded(keys=keys, writable=writable, readonly=readonly, tables=tables, instructions=instructions)

    # Transactions.

    def simulate(self, transaction: VersionedTransaction, *, sig_verify: bool = True,
                 replace_blockhash: bool = False, addresses: list[Pubkey] | None = None) -> SendResult:
        """What simulateTransaction reports; ``addresses``: accounts to return in their post-simulation state."""
        signature = str(transaction.signatures[0])
        with self._lock:
            loaded = self._precheck(transaction, sig_verify=sig_verify, check_blockhash=not replace_blockhash)
            if not isinstance(loaded, Loaded):
                return SendResult(signature, err=loaded)
            outcome = self._execute(transaction, loaded, simulate=True)
            accounts = None
            if addresses is not None:
                post = outcome.post_accounts or {}
                accounts = [post[key] if key in post else self.account(key) for key in addresses]
            return SendResult(signature, err=outcome.err, logs=outcome.logs, units=outcome.units,
                              accounts=accounts)

    def send(self, transaction: VersionedTransaction, *, attempt: bool = False) -> SendResult:
        """Land a transaction (or, with a drop pending, accept it and let it vanish). ``attempt``: it came through
        sendTransaction, so ``drop_rate`` may lose it (localnet's own helpers always land theirs)."""
        signature = str(transaction.signatures[0])
        with self._lock:
            if signature in self.history or signature in self.dropped:
                return SendResult(signature)
            loaded = self._precheck(transaction)
            if not isinstance(loaded, Loaded):
                return SendResult(signature, err=loaded)
            if self._drop_next > 0:
                self._drop_next -= 1
                self.dropped.add(signature)
                return SendResult(signature)
            if attempt and self.drop_rate and self._drop_random.random() < self.drop_rate:
                return SendResult(signature)  # lost on the way to the leader: not remembered, a resend may land
            landed = self._land(transaction, loaded)
            self.history[signature] = landed
            if not self.clock_running:
                self.advance_blocks(1)
            return SendResult(signature, err=landed.err, logs=landed.logs, units=landed.compute_units)

    def land_bundle(self, transactions: list[VersionedTransaction]) -> SendResult:
        """Land ``transactions`` in order and all-or-nothing, in one slot, as a Jito bundle does: if one cannot load
        or would fail, every account the bundle touched is put back as it was, nothing is charged and nothing
        enters the history. The result names the first transaction; ``err`` is ``{"index": i, "err": ...}`` of the
        one that failed (or "AlreadyProcessed" when one of them has landed already)."""
        signatures = [str(transaction.signatures[0]) for transaction in transactions]
        with self._lock:
            if any(signature in self.history for signature in signatures):
                return SendResult(signatures[0], err="AlreadyProcessed")
            before: dict[Pubkey, Account | None] = {}
            landed: list[Landed] = []
            for index, transaction in enumerate(transactions):
                loaded = self._precheck(transaction)
                err = loaded if not isinstance(loaded, Loaded) else None
                if err is None:
                    for key in loaded.keys:  # the earliest state wins: the one to restore
                        if key not in before:
                            before[key] = self._svm.get_account(key)
                    record = self._land(transaction, loaded)
                    landed.append(record)
                    err = record.err
                if err is not None:
                    for key, account in before.items():
                        # A zero-lamport account is no account at all (LiteSVM drops it, as the runtime does).
                        self._svm.set_account(key, account or Account(0, b"", SYSTEM_PROGRAM_ID, False))
                    return SendResult(signatures[0], err={"index": index, "err": err})
            for record in landed:
                self.history[record.signature] = record
            if not self.clock_running:
                self.advance_blocks(1)
            return SendResult(signatures[0], logs=[line for record in landed for line in record.logs],
                              units=sum(record.compute_units for record in landed))

    def _land(self, transaction: VersionedTransaction, loaded: Loaded) -> Landed:
        """Execute a transaction that passed its precheck, with what getTransaction reports of it."""
        keys = loaded.keys
        pre = [self.sol_balance(key) for key in keys]
        pre_tokens = self._token_balances(keys)
        outcome = self._execute(transaction, loaded, simulate=False)
        return Landed(signature=str(transaction.signatures[0]), slot=self.slot, block_height=self.block_height,
                      transaction=transaction, fee=outcome.fee, err=outcome.err, logs=outcome.logs,
                      pre_balances=pre, post_balances=[self.sol_balance(key) for key in keys],
                      pre_token_balances=pre_tokens, post_token_balances=self._token_balances(keys),
                      compute_units=outcome.units, loaded_writable=loaded.writable, loaded_readonly=loaded.readonly)

    def _precheck(self, transaction: VersionedTransaction, *, sig_verify: bool = True,
                  check_blockhash: bool = True) -> Loaded | object:
        """What a validator refuses before executing: bad signatures, unknown or expired blockhashes, a fee payer
        that cannot pay, lookups that do not resolve. Returns the loaded transaction when it may execute."""
        if sig_verify and not all(transaction.verify_with_results()):
            return "SignatureFailure"
        if check_blockhash:
            valid_until = self._blockhashes.get(str(transaction.message.recent_blockhash))
            if valid_until is None or self.block_height > valid_until:
                return "BlockhashNotFound"
        if self.sol_balance(transaction.message.account_keys[0]) < mainnet_fee(transaction):
            return "InsufficientFundsForFee"
        return self._load(transaction)

    def _execute(self, transaction: VersionedTransaction, loaded: Loaded, *, simulate: bool) -> Outcome:
        """Run the transaction on LiteSVM. Each Jupiter route instruction is carried out as the venue says (the
        real transfers it stands for), in one internal transaction with the rest, so it all lands or none of it
        does. Signatures were verified by the precheck; the fee is what mainnet charges the original."""
        if not simulate and self.on_landing is not None:
            self.on_landing(self.slot, {key: self._svm.get_account(key) for key in loaded.keys})
        routes = [i for i, ix in enumerate(loaded.instructions) if ix.program_id == JUPITER_PROGRAM_ID]
        if not routes or self.route_handler is None:
            return self._run(transaction, original=transaction, simulate=simulate, extra=0, index_map=None)
        instructions: list[Instruction] = []
        index_map: list[int] = []
        for index, instruction in enumerate(loaded.instructions):
            if index not in routes:
                instructions.append(instruction)
                index_map.append(index)
                continue
            try:
                expansion = self.route_handler(instruction)
            except RouteRefused as refusal:
                return self._refused(transaction, index, refusal, simulate=simulate)
            instructions += expansion
            index_map += [index] * len(expansion)
        payer = transaction.message.account_keys[0]
        message = MessageV0.try_compile(payer, instructions, loaded.tables, transaction.message.recent_blockhash)
        count = message.header.num_required_signatures
        internal = VersionedTransaction.populate(message, [transaction.signatures[0]] + [Signature.default()] * (
            count - 1))
        return self._run(internal, original=transaction, simulate=simulate,
                         extra=5000 * (count - len(transaction.signatures)),
                         index_map=index_map, route_indexes=routes)

    def _run(self, transaction: VersionedTransaction, *, original: VersionedTransaction, simulate: bool, extra: int,
             index_map: list[int] | None, route_indexes: list[int] = ()) -> Outcome:
        """``extra``: what the internal transaction's own signers add to the fee; the payer is credited it
        beforehand (or debited after, if negative) so it pays exactly the original's fee."""
        payer = transaction.message.account_keys[0]
        before = self.sol_balance(payer)
        if extra > 0:
            self._credit(payer, extra)
        result = self._svm.simulate_transaction(transaction) if simulate else self._svm.send_transaction(transaction)
        failed = hasattr(result, "err")
        meta = result.meta() if simulate or failed else result
        post_accounts = {key: account for key, account in result.post_accounts()} if simulate and not failed \
            else None
        if simulate:
            if extra > 0:
                self._credit(payer, -extra)
            fee = meta.fee() - extra
            if extra < 0 and post_accounts and payer in post_accounts:  # (a positive extra was credited)
                account = post_accounts[payer]
                post_accounts[payer] = Account(account.lamports + extra, bytes(account.data), account.owner,
                                               account.executable)
        elif failed and self.sol_balance(payer) == before + max(extra, 0):
            # LiteSVM charged nothing (the transaction failed to load, e.g. an unknown program): mainnet charges
            # such a transaction its fee all the same.
            fee = mainnet_fee(original)
            self._credit(payer, -max(extra, 0) - fee)
        else:
            if extra < 0:
                self._credit(payer, extra)
            fee = meta.fee() - extra
        err = _error_json(result.err()) if failed else None
        if index_map is not None and isinstance(err, dict) and "InstructionError" in err:
            err = {"InstructionError": [index_map[err["InstructionError"][0]], err["InstructionError"][1]]}
        logs = list(meta.logs())
        if index_map is not None:
            logs = _route_logs(logs, index_map, set(route_indexes))
        return Outcome(err=err, logs=logs, units=meta.compute_units_consumed(), fee=fee,
                       post_accounts=post_accounts)

    def _refused(self, transaction: VersionedTransaction, index: int, refusal: RouteRefused, *,
                 simulate: bool) -> Outcome:
        """The route's program failed (slippage): the fee is charged, nothing else moves."""
        program = str(JUPITER_PROGRAM_ID)
        logs = [f"Program {program} invoke [1]",
                f"Program log: AnchorError occurred. Error Code: {refusal.name}. Error Number: {refusal.code}. "
                f"Error Message: {refusal.message}.",
                f"Program {program} consumed 30000 of 200000 compute units",
                f"Program {program} failed: custom program error: {refusal.code:#x}"]
        fee = mainnet_fee(transaction)
        if not simulate:
            self._credit(transaction.message.account_keys[0], -fee)
        return Outcome(err={"InstructionError": [index, {"Custom": refusal.code}]}, logs=logs, units=30000,
                       fee=fee, post_accounts=None)

    def _credit(self, pubkey: Pubkey, lamports: int) -> None:
        account = self.account(pubkey)
        self.set_account(pubkey, Account(lamports=account.lamports + lamports, data=bytes(account.data),
                                         owner=account.owner, executable=account.executable))

    def _token_balances(self, keys: list[Pubkey]) -> list[dict]:
        balances = []
        for index, key in enumerate(keys):
            account = self.account(key)
            parsed = _token_account(account) if account is not None else None
            if parsed is None:
                continue
            mint = self.mint(parsed.mint)
            decimals = mint.decimals if mint else 0
            balances.append({"accountIndex": index, "mint": str(parsed.mint), "owner": str(parsed.owner),
                             "programId": str(account.owner), "uiTokenAmount": ui_amount(parsed.amount, decimals)})
        return balances

    def status(self, signature: str) -> Landed | None:
        with self._lock:
            return self.history.get(signature)


def ui_amount(amount: int, decimals: int) -> dict:
    from decimal import Decimal

    text = f"{Decimal(amount).scaleb(-decimals):f}" if decimals else str(amount)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return {"amount": str(amount), "decimals": decimals, "uiAmount": float(text) if amount else 0.0,
            "uiAmountString": text}


def encode_account(account: Account) -> dict:
    return {"data": [base64.b64encode(bytes(account.data)).decode(), "base64"], "executable": account.executable,
            "lamports": account.lamports, "owner": str(account.owner), "rentEpoch": 18446744073709551615,
            "space": len(bytes(account.data))}


@dataclass(frozen=True)
class Token2022Extensions:
    """Which Token-2022 mint extensions to create (the ones that can take or lock holders' funds, and a fee)."""

    permanent_delegate: Pubkey | None = None
    transfer_fee_bps: int | None = None
    transfer_fee_authority: Pubkey | None = None
    transfer_hook_program: Pubkey | None = None
    non_transferable: bool = False

    def lengths(self) -> list[int]:
        sizes = []
        if self.transfer_fee_bps is not None:
            sizes.append(108)
        if self.permanent_delegate is not None:
            sizes.append(32)
        if self.transfer_hook_program is not None:
            sizes.append(64)
        if self.non_transferable:
            sizes.append(0)
        return sizes

    def instruction_data(self) -> list[bytes]:
        data = []
        if self.transfer_fee_bps is not None:  # TransferFeeExtension / InitializeTransferFeeConfig
            data.append(bytes([26, 0]) + _coption(self.transfer_fee_authority) + _coption(None)
                        + self.transfer_fee_bps.to_bytes(2, "little") + (10**18).to_bytes(8, "little"))
        if self.permanent_delegate is not None:  # InitializePermanentDelegate
            data.append(bytes([35]) + bytes(self.permanent_delegate))
        if self.transfer_hook_program is not None:  # TransferHookExtension / Initialize (authority, program)
            data.append(bytes([36, 0]) + bytes(32) + bytes(self.transfer_hook_program))
        if self.non_transferable:  # InitializeNonTransferableMint
            data.append(bytes([32]))
        return data


def _coption(key: Pubkey | None) -> bytes:
    return bytes([1]) + bytes(key) if key is not None else bytes([0])


def _token_account(account: Account | None) -> TokenAccount | None:
    if account is None or account.owner not in TOKEN_PROGRAMS or len(bytes(account.data)) < 165:
        return None
    try:
        return TokenAccount.from_bytes(bytes(account.data)[:165])
    except ValueError:
        return None


def lookup_table_data(addresses: list[Pubkey], *, last_extended_slot: int, authority: Pubkey | None) -> bytes:
    """LookupTableMeta (u32 type=1, u64 deactivation slot, u64 last extended slot, u8 its start index,
    Option<Pubkey> authority, u16 padding: 56 bytes), then the addresses."""
    meta = ((1).to_bytes(4, "little") + U64_MAX.to_bytes(8, "little") + last_extended_slot.to_bytes(8, "little")
            + bytes([0]) + _coption(authority) + bytes(32 if authority is None else 0) + bytes(2))
    assert len(meta) == LOOKUP_TABLE_META_SIZE
    return meta + b"".join(bytes(address) for address in addresses)


def mainnet_fee(transaction: VersionedTransaction) -> int:
    """5000 lamports per signature plus the priority fee (compute-unit price x limit, rounded up)."""
    message = transaction.message
    limit, price = 200_000, 0
    for instruction in message.instructions:
        if message.account_keys[instruction.program_id_index] != COMPUTE_BUDGET_PROGRAM_ID:
            continue
        data = bytes(instruction.data)
        if data[:1] == b"\x02" and len(data) >= 5:
            limit = int.from_bytes(data[1:5], "little")
        elif data[:1] == b"\x03" and len(data) >= 9:
            price = int.from_bytes(data[1:9], "little")
    return 5000 * len(transaction.signatures) + -(-limit * price // 1_000_000)


def _route_logs(logs: list[str], index_map: list[int], routes: set[int]) -> list[str]:
    """Logs of the internal transaction as the original's: the instructions standing for a route appear as CPIs
    of Jupiter's program, one level deeper."""
    program = str(JUPITER_PROGRAM_ID)
    segments: list[tuple[int, list[str]]] = []  # (original instruction index, its lines)
    for line in logs:
        if line.endswith(" invoke [1]") and len(segments) < len(index_map):
            segments.append((index_map[len(segments)], []))
        if segments:
            segments[-1][1].append(line)
    out = logs[:len(logs) - sum(len(lines) for _, lines in segments)]
    for position, (original, lines) in enumerate(segments):
        if original not in routes:
            out += lines
            continue
        if position == 0 or segments[position - 1][0] != original:
            out += [f"Program {program} invoke [1]", "Program log: Instruction: Route"]
        out += [re.sub(r" invoke \[(\d+)\]$", lambda m: f" invoke [{int(m[1]) + 1}]", line) for line in lines]
        last = position + 1 == len(segments) or segments[position + 1][0] != original
        if last and lines and " failed: " in lines[-1]:
            out.append(f"Program {program} failed: {lines[-1].split(' failed: ', 1)[1]}")
        elif last and lines and lines[-1].endswith(" success"):
            out.append(f"Program {program} success")
    return out


def _key(value: Pubkey | str) -> Pubkey:
    return value if isinstance(value, Pubkey) else Pubkey.from_string(value)


def _error_json(err) -> object:
    """LiteSVM's TransactionError as the JSON an RPC node reports, e.g. ``{"InstructionError":[0,{"Custom":1}]}``."""
    from solders import transaction_status as ts

    if isinstance(err, ts.TransactionErrorFieldless):
        return str(err).split(".")[-1]
    if isinstance(err, ts.TransactionErrorInstructionError):
        inner = err.err
        if isinstance(inner, ts.InstructionErrorCustom):
            detail: object = {"Custom": inner.code}
        elif isinstance(inner, ts.InstructionErrorFieldless):
            detail = str(inner).split(".")[-1]
        else:
            detail = {"BorshIoError": str(inner)}
        return {"InstructionError": [err.index, detail]}
    if isinstance(err, ts.TransactionErrorInsufficientFundsForRent):
        return {"InsufficientFundsForRent": {"account_index": err.account_index}}
    if isinstance(err, ts.TransactionErrorDuplicateInstruction):
        return {"DuplicateInstruction": err.index}
    return str(err)


def blockhash_of(text: str) -> Hash:
    return Hash.from_string(text)


def signature_of(text: str) -> Signature:
    return Signature.from_string(text)
