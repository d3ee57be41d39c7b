"""The local chain: LiteSVM plus what a validator adds around it (block height, blockhash expiry, history with
balances, a swap program emulated at landing time). Thread-safe: one lock guards the SVM."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from solders.account import Account
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, create_account
from solders.token.associated import get_associated_token_address
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

BLOCKHASH_VALIDITY = 150  # blocks, as on mainnet
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
SWAP_MEMO_PREFIX = "localnet-swap:"
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
SLIPPAGE_ERROR = 6001  # Jupiter's SlippageToleranceExceeded (0x1771)


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


@dataclass
class SendResult:
    signature: str
    err: object | None = None
    logs: list[str] = field(default_factory=list)
    units: int = 0


class Chain:
    def __init__(self) -> None:
        self._svm = LiteSVM().with_blockhash_check(False)
        self._lock = threading.RLock()
        self.slot = 1
        self.block_height = 1
        self._blockhashes: dict[str, int] = {}
        self._latest = self._new_blockhash()
        self.history: dict[str, Landed] = {}
        self._drop_next = 0
        self.dropped: set[str] = set()
        # Set by the swap venue: check a swap marker against live reserves at landing time.
        self.swap_guard: Callable[[str], str | None] | None = None

    # Blocks and blockhashes.

    def _new_blockhash(self) -> str:
        self._svm.expire_blockhash()
        latest = str(self._svm.latest_blockhash())
        self._blockhashes[latest] = self.block_height + BLOCKHASH_VALIDITY
        return latest

    def latest_blockhash(self) -> tuple[str, int]:
        with self._lock:
            return self._latest, self._blockhashes[self._latest]

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
        with self._lock:
            self._drop_next += count

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

    # Transactions.

    def simulate(self, transaction: VersionedTransaction) -> SendResult:
        signature = str(transaction.signatures[0])
        with self._lock:
            problem = self._precheck(transaction)
            if problem is not None:
                return SendResult(signature, err=problem)
            slippage = self._swap_check(transaction)
            if slippage is not None:
                return SendResult(signature, err=slippage[0], logs=slippage[1])
            result = self._svm.simulate_transaction(transaction)
            if hasattr(result, "err"):
                meta = result.meta()
                return SendResult(signature, err=_error_json(result.err()), logs=list(meta.logs()),
                                  units=meta.compute_units_consumed())
            meta = result.meta()
            return SendResult(signature, logs=list(meta.logs()), units=meta.compute_units_consumed())

    def send(self, transaction: VersionedTransaction) -> SendResult:
        """Land a transaction (or, with a drop pending, accept it and let it vanish)."""
        signature = str(transaction.signatures[0])
        with self._lock:
            if signature in self.history or signature in self.dropped:
                return SendResult(signature)
            problem = self._precheck(transaction)
            if problem is not None:
                return SendResult(signature, err=problem)
            if self._drop_next > 0:
                self._drop_next -= 1
                self.dropped.add(signature)
                return SendResult(signature)
            keys = _all_keys(transaction)
            pre = [self.sol_balance(key) for key in keys]
            pre_tokens = self._token_balances(keys)
            slippage = self._swap_check(transaction)
            if slippage is not None:
                fee = self._charge_fee(transaction, keys[0])
                err, logs, units = slippage[0], slippage[1], 0
            else:
                result = self._svm.send_transaction(transaction)
                meta = result.meta() if hasattr(result, "err") else result
                err = _error_json(result.err()) if hasattr(result, "err") else None
                fee, logs, units = meta.fee() if hasattr(meta, "fee") else 0, list(meta.logs()), \
                    meta.compute_units_consumed()
                if err is not None and not fee:
                    fee = pre[0] - self.sol_balance(keys[0])
            landed = Landed(signature=signature, slot=self.slot, block_height=self.block_height,
                            transaction=transaction, fee=fee, err=err, logs=logs, pre_balances=pre,
                            post_balances=[self.sol_balance(key) for key in keys], pre_token_balances=pre_tokens,
                            post_token_balances=self._token_balances(keys), compute_units=units)
            self.history[signature] = landed
            self.advance_blocks(1)
            return SendResult(signature, err=err, logs=logs, units=units)

    def _precheck(self, transaction: VersionedTransaction) -> object | None:
        """What a validator refuses before executing: bad signatures, unknown or expired blockhashes."""
        if not all(transaction.verify_with_results()):
            return "SignatureFailure"
        blockhash = str(transaction.message.recent_blockhash)
        valid_until = self._blockhashes.get(blockhash)
        if valid_until is None or self.block_height > valid_until:
            return "BlockhashNotFound"
        if self.sol_balance(transaction.message.account_keys[0]) < 5000 * len(transaction.signatures):
            return "InsufficientFundsForFee"
        return None

    def _swap_check(self, transaction: VersionedTransaction) -> tuple[object, list[str]] | None:
        if self.swap_guard is None:
            return None
        message = transaction.message
        for index, instruction in enumerate(message.instructions):
            if message.account_keys[instruction.program_id_index] != MEMO_PROGRAM_ID:
                continue
            memo = bytes(instruction.data).decode(errors="replace")
            if memo.startswith(SWAP_MEMO_PREFIX):
                problem = self.swap_guard(memo)
                if problem:
                    program = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
                    return ({"InstructionError": [index, {"Custom": SLIPPAGE_ERROR}]},
                            [f"Program {program} invoke [1]",
                             "Program log: AnchorError occurred. Error Code: SlippageToleranceExceeded. Error "
                             f"Number: {SLIPPAGE_ERROR}. Error Message: {problem}.",
                             f"Program {program} failed: custom program error: 0x1771"])
        return None

    def _charge_fee(self, transaction: VersionedTransaction, payer: Pubkey) -> int:
        fee = 5000 * len(transaction.signatures)
        account = self.account(payer)
        self.set_account(payer, Account(lamports=account.lamports - fee, data=bytes(account.data),
                                        owner=account.owner, executable=account.executable))
        return fee

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


def _all_keys(transaction: VersionedTransaction) -> list[Pubkey]:
    return list(transaction.message.account_keys)


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
