"""Solana JSON-RPC over the local chain, in the response shapes solana-py parses. A node built with
``lagging=True`` serves the chain as it was ``knobs.lag_slots`` ago (see localnet.hostile)."""

from __future__ import annotations

import base64
import time

from solders.account import Account
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from localnet import b58
from localnet.chain import TOKEN_PROGRAMS, Chain, _token_account, encode_account, ui_amount
from localnet.hostile import MAX_SIGNATURE_STATUSES, RECENT_FEE_SLOTS, Journal, Knobs, commitment, underpriced_drop
from localnet.http import Request, Response, Server

MAX_MULTIPLE_ACCOUNTS = 100  # mainnet's limit for getMultipleAccounts
WRITES = ("sendTransaction", "requestAirdrop")  # what a lagging node forwards rather than answers from its view


class RpcError(Exception):
    def __init__(self, code: int, message: str, data=None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class RpcServer(Server):
    def __init__(self, chain: Chain, *, knobs: Knobs | None = None, journal: Journal | None = None,
                 lagging: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain = chain
        self.knobs = knobs or Knobs()
        self.journal = journal or Journal()
        self.lagging = lagging
        self.sandwicher = None  # localnet.sandwich.Sandwicher: what sees a transaction sent in the open

    def request_name(self, request: Request) -> str:
        try:
            body = request.json()
        except ValueError:
            return "invalid"
        if isinstance(body, list):
            return "batch"
        return body.get("method", "invalid") if isinstance(body, dict) else "invalid"

    def handle(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return Response.json({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        if isinstance(body, list):
            return Response.json([self._call(item) for item in body])
        return Response.json(self._call(body))

    def _call(self, body: dict) -> dict:
        request_id = body.get("id") if isinstance(body, dict) else None
        try:
            method = getattr(self, f"_{body['method']}", None)
            if method is None:
                raise RpcError(-32601, "Method not found")
            params = body.get("params") or []
            if body["method"] not in WRITES:
                self._check_caught_up(params)
            result = method(*params)
        except RpcError as err:
            error = {"code": err.code, "message": err.message}
            if err.data is not None:
                error["data"] = err.data
            return {"jsonrpc": "2.0", "id": request_id, "error": error}
        except (KeyError, TypeError, ValueError, IndexError) as err:
            return {"jsonrpc": "2.0", "id": request_id,
                    "error": {"code": -32602, "message": f"Invalid params: {err}"}}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _check_caught_up(self, params: list) -> None:
        """A read at a ``minContextSlot`` this node has not reached is -32016; a lagging node's reads fail now and
        then (``knobs.lag_error_rate``) as mainnet's do: -32016 when the read names a minimum slot, else -32005."""
        config = params[-1] if params and isinstance(params[-1], dict) else {}
        wanted = config.get("minContextSlot")
        view = self._slot()
        if wanted is not None and int(wanted) > view:
            raise RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": view})
        if not self.lagging or not self.knobs.chance(self.knobs.lag_error_rate):
            return
        if wanted is not None:
            raise RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": view})
        behind = self._lag()
        raise RpcError(-32005, f"Node is behind by {behind} slots" if behind else "Node is unhealthy",
                       {"numSlotsBehind": behind or None})

    def _lag(self) -> int:
        return max(0, self.knobs.lag_slots) if self.lagging else 0

    def _slot(self) -> int:
        return max(1, self.chain.slot - self._lag())

    def _block_height(self) -> int:
        return max(1, self.chain.block_height - self._lag())

    def _account(self, key: Pubkey) -> Account | None:
        """The account as this node sees it: now, or as it was ``lag_slots`` ago on a lagging node."""
        if self.journal.held(key, self._slot()):
            return None
        if self._lag():
            overrides = self.journal.as_of(self._slot())
            if key in overrides:
                return overrides[key]
        return self.chain.account(key)

    def _balance(self, key: Pubkey) -> int:
        account = self._account(key)
        return 0 if account is None else account.lamports

    def _visible(self, signature: str):
        """The landed transaction if this node has seen its slot; None otherwise."""
        landed = self.chain.status(signature)
        return None if landed is None or landed.slot > self._slot() else landed

    def _context(self) -> dict:
        return {"slot": self._slot(), "apiVersion": "2.1.0"}

    # Reads.

    def _getLatestBlockhash(self, config=None):
        if self._lag():
            blockhash, last_valid = self.chain.blockhash_at(self._block_height())
        else:
            blockhash, last_valid = self.chain.latest_blockhash()
        return {"context": self._context(), "value": {"blockhash": blockhash, "lastValidBlockHeight": last_valid}}

    def _getBlockHeight(self, config=None):
        return self._block_height()

    def _getSlot(self, config=None):
        return self._slot()

    def _getHealth(self):
        return "ok"

    def _getVersion(self):
        return {"solana-core": "2.1.0-localnet", "feature-set": 0}

    def _getBalance(self, pubkey, config=None):
        return {"context": self._context(), "value": self._balance(_pubkey(pubkey))}

    def _getMinimumBalanceForRentExemption(self, size, config=None):
        return self.chain.rent_exempt(int(size))

    def _getAccountInfo(self, pubkey, config=None):
        _account_encoding(config)
        account = self._account(_pubkey(pubkey))
        return {"context": self._context(), "value": None if account is None else encode_account(account)}

    def _getMultipleAccounts(self, pubkeys, config=None):
        if len(pubkeys) > MAX_MULTIPLE_ACCOUNTS:
            raise RpcError(-32602, f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        _account_encoding(config)
        accounts = [self._account(_pubkey(key)) for key in pubkeys]
        return {"context": self._context(),
                "value": [None if account is None else encode_account(account) for account in accounts]}

    def _getTokenAccountsByOwner(self, owner, filter_, config=None):
        program = Pubkey.from_string(filter_["programId"]) if "programId" in filter_ else None
        mint = filter_.get("mint")
        if program is not None and program not in TOKEN_PROGRAMS:
            raise RpcError(-32602, "Invalid param: unrecognized Token program id")
        encoding = (config or {}).get("encoding", "base64")
        value = []
        for address, account, parsed in self._token_accounts(_pubkey(owner), mint=mint, program=program):
            encoded = encode_account(account)
            if encoding == "jsonParsed":
                mint_state = self.chain.mint(parsed.mint)
                encoded["data"] = {"program": "spl-token" if account.owner == TOKEN_PROGRAMS[0] else
                                   "spl-token-2022", "space": len(bytes(account.data)), "parsed": {
                                       "type": "account", "info": {
                                           "isNative": False, "mint": str(parsed.mint), "owner": str(parsed.owner),
                                           "state": "initialized",
                                           "tokenAmount": ui_amount(parsed.amount,
                                                                    mint_state.decimals if mint_state else 0)}}}
            value.append({"pubkey": str(address), "account": encoded})
        return {"context": self._context(), "value": value}

    def _token_accounts(self, owner: Pubkey, *, mint: str | None, program: Pubkey | None):
        found = self.chain.token_accounts(owner, mint=mint, program=program)
        if not self._lag():
            return found
        overrides = self.journal.as_of(self._slot())
        then = {address: account for address, account, _ in found if address not in overrides}
        then.update({address: account for address, account in overrides.items() if account is not None})
        owned = []
        for address, account in then.items():
            parsed = _token_account(account)
            if (parsed is not None and parsed.owner == owner and (mint is None or str(parsed.mint) == mint)
                    and (program is None or account.owner == program)):
                owned.append((address, account, parsed))
        return owned

    def _getTokenAccountBalance(self, pubkey, config=None):
        parsed = _token_account(self._account(_pubkey(pubkey)))
        if parsed is None:
            raise RpcError(-32602, "Invalid param: could not find account")
        mint = self.chain.mint(parsed.mint)
        return {"context": self._context(), "value": ui_amount(parsed.amount, mint.decimals if mint else 0)}

    def _getSignatureStatuses(self, signatures, config=None):
        if self.knobs.strict_limits and len(signatures) > MAX_SIGNATURE_STATUSES:
            raise RpcError(-32602, f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        value = []
        for signature in signatures:
            landed = self._visible(signature)
            if landed is None:
                value.append(None)
                continue
            status, confirmations = commitment(self.chain, landed, at_slot=self._slot())
            value.append({"slot": landed.slot, "confirmations": confirmations, "err": landed.err,
                          "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
                          "confirmationStatus": status})
        return {"context": self._context(), "value": value}

    def _getTransaction(self, signature, config=None):
        config = config if isinstance(config, dict) else {}
        landed = self._visible(signature)
        if landed is None:
            return None
        is_v0 = isinstance(landed.transaction.message, MessageV0)
        if self.knobs.strict_limits and is_v0 and config.get("maxSupportedTransactionVersion") is None:
            raise RpcError(-32015, "Transaction version (0) is not supported by the requesting client. Please try "
                           'the request again with the following configuration parameter: '
                           '"maxSupportedTransactionVersion": 0')
        status, _ = commitment(self.chain, landed, at_slot=self._slot())
        if status == "processed" or (config.get("commitment") == "finalized" and status != "finalized"):
            return None  # getTransaction answers at confirmed or finalized only
        return _transaction_json(landed)

    def _getRecentPrioritizationFees(self, addresses=None):
        """The fee market's level (``knobs.priority_fee_level``, micro-lamports per CU) for the recent slots."""
        view = self._slot()
        return [{"slot": slot, "prioritizationFee": self.knobs.priority_fee_level}
                for slot in range(max(1, view - RECENT_FEE_SLOTS + 1), view + 1)]

    # Writes.

    def _requestAirdrop(self, pubkey, lamports, config=None):
        self.chain.airdrop(_pubkey(pubkey), int(lamports))
        return str(b58.encode(bytes(64)))

    def _sendTransaction(self, encoded, config=None):
        config = config or {}
        transaction = _decode(encoded, config.get("encoding", "base58"))
        if not config.get("skipPreflight"):
            self._preflight_blockhash(transaction)
            simulated = self.chain.simulate(transaction)
            if simulated.err is not None:
                raise RpcError(-32002, f"Transaction simulation failed: {_describe(simulated.err)}",
                               _simulation_value(simulated))
        if underpriced_drop(self.knobs, transaction):  # the leader took better-paying ones: accepted, never lands
            return str(transaction.signatures[0])
        if self.sandwicher is not None:
            result = self.sandwicher.send(transaction)
        else:
            result = self.chain.send(transaction, attempt=True)
        if result.err in ("BlockhashNotFound", "SignatureFailure", "InsufficientFundsForFee",
                          "AddressLookupTableNotFound", "InvalidAddressLookupTableIndex", "SanitizeFailure"):
            raise RpcError(-32002, f"Transaction simulation failed: {_describe(result.err)}",
                           _simulation_value(result))
        return result.signature

    def _preflight_blockhash(self, transaction: VersionedTransaction) -> None:
        """A lagging node has not seen a blockhash fresher than its view: preflight refuses it there."""
        if self._too_fresh(transaction):
            raise RpcError(-32002, "Transaction simulation failed: Blockhash not found", {**_BLOCKHASH_NOT_FOUND})

    def _too_fresh(self, transaction: VersionedTransaction) -> bool:
        """Is the transaction's blockhash newer than this node's view (a lagging node's, some slots old)?"""
        if not self._lag():
            return False
        height = self.chain.blockhash_height(str(transaction.message.recent_blockhash))
        return height is not None and height > self._block_height()

    def _simulateTransaction(self, encoded, config=None):
        config = config or {}
        transaction = _decode(encoded, config.get("encoding", "base58"))
        sig_verify, replace = bool(config.get("sigVerify", False)), bool(config.get("replaceRecentBlockhash", False))
        if sig_verify and replace:
            raise RpcError(-32602, "sigVerify may not be used with replaceRecentBlockhash")
        addresses = None
        if config.get("accounts") is not None:
            wanted = config["accounts"]
            if wanted.get("encoding", "base64") != "base64":
                raise RpcError(-32602, "Invalid params: only base64 account encoding is supported by localnet")
            addresses = [_pubkey(key) for key in wanted.get("addresses") or []]
            loaded = len(transaction.message.account_keys) + sum(
                len(lookup.writable_indexes) + len(lookup.readonly_indexes)
                for lookup in getattr(transaction.message, "address_table_lookups", None) or [])
            if len(addresses) > loaded:
                raise RpcError(-32602, f"Too many accounts provided; max {loaded}")
        if not replace and self._too_fresh(transaction):  # as a lagging node answers: in the value, not an error
            return {"context": self._context(), "value": {**_BLOCKHASH_NOT_FOUND}}
        result = self.chain.simulate(transaction, sig_verify=sig_verify, replace_blockhash=replace,
                                     addresses=addresses)
        value = _simulation_value(result)
        if replace:
            blockhash, last_valid = self.chain.latest_blockhash()
            value["replacementBlockhash"] = {"blockhash": blockhash, "lastValidBlockHeight": last_valid}
        return {"context": self._context(), "value": value}


_BLOCKHASH_NOT_FOUND = {"err": "BlockhashNotFound", "logs": [], "accounts": None, "unitsConsumed": 0,
                        "returnData": None, "innerInstructions": None, "replacementBlockhash": None}


def _simulation_value(result) -> dict:
    accounts = None
    if result.accounts is not None:
        accounts = [None if account is None else encode_account(account) for account in result.accounts]
    return {"err": result.err, "logs": result.logs, "accounts": accounts, "unitsConsumed": result.units,
            "returnData": None, "innerInstructions": None, "replacementBlockhash": None}


def _account_encoding(config) -> None:
    encoding = (config or {}).get("encoding", "base64")
    if encoding not in ("base64", "base58", "jsonParsed"):  # the reply is always base64 here
        raise RpcError(-32602, f"Invalid params: unknown encoding {encoding!r}")


def _describe(err) -> str:
    messages = {"BlockhashNotFound": "Blockhash not found", "SignatureFailure": "Transaction did not pass signature "
                "verification", "InsufficientFundsForFee": "Attempt to debit an account but found no record of a "
                "prior credit."}
    if isinstance(err, str):
        return messages.get(err, err)
    return f"Error processing Instruction: {err}"


def _decode(encoded: str, encoding: str) -> VersionedTransaction:
    raw = base64.b64decode(encoded) if encoding == "base64" else b58.decode(encoded)
    try:
        return VersionedTransaction.from_bytes(raw)
    except ValueError:
        raise RpcError(-32602, "invalid transaction: failed to deserialize") from None


def _pubkey(text: str) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except ValueError:
        raise RpcError(-32602, f"Invalid param: Invalid public key input {text[:60]!r}") from None


def _transaction_json(landed) -> dict:
    message = landed.transaction.message
    header = message.header
    return {
        "slot": landed.slot, "blockTime": int(time.time()), "version": 0,
        "transaction": {
            "signatures": [str(signature) for signature in landed.transaction.signatures],
            "message": {
                "header": {"numRequiredSignatures": header.num_required_signatures,
                           "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                           "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts},
                "accountKeys": [str(key) for key in message.account_keys],
                "recentBlockhash": str(message.recent_blockhash),
                "instructions": [{"programIdIndex": ix.program_id_index, "accounts": list(ix.accounts),
                                  "data": b58.encode(bytes(ix.data)), "stackHeight": None}
                                 for ix in message.instructions],
                "addressTableLookups": [{"accountKey": str(lookup.account_key),
                                         "writableIndexes": list(lookup.writable_indexes),
                                         "readonlyIndexes": list(lookup.readonly_indexes)}
                                        for lookup in getattr(message, "address_table_lookups", None) or []],
            },
        },
        "meta": {
            "err": landed.err, "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
            "fee": landed.fee, "preBalances": landed.pre_balances, "postBalances": landed.post_balances,
            "innerInstructions": [], "logMessages": landed.logs, "preTokenBalances": landed.pre_token_balances,
            "postTokenBalances": landed.post_token_balances, "rewards": [],
            "loadedAddresses": {"writable": [str(key) for key in landed.loaded_writable],
                                "readonly": [str(key) for key in landed.loaded_readonly]},
            "computeUnitsConsumed": landed.compute_units,
        },
    }
