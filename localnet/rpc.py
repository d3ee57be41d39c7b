"""Solana JSON-RPC over the local chain, in the response shapes solana-py parses."""

from __future__ import annotations

import base64
import time

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from localnet import b58
from localnet.chain import TOKEN_PROGRAMS, Chain, encode_account, ui_amount
from localnet.http import Request, Response, Server

MAX_MULTIPLE_ACCOUNTS = 100  # mainnet's limit for getMultipleAccounts


class RpcError(Exception):
    def __init__(self, code: int, message: str, data=None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class RpcServer(Server):
    def __init__(self, chain: Chain, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain = chain

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
            result = method(*(body.get("params") or []))
        except RpcError as err:
            error = {"code": err.code, "message": err.message}
            if err.data is not None:
                error["data"] = err.data
            return {"jsonrpc": "2.0", "id": request_id, "error": error}
        except (KeyError, TypeError, ValueError, IndexError) as err:
            return {"jsonrpc": "2.0", "id": request_id,
                    "error": {"code": -32602, "message": f"Invalid params: {err}"}}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _context(self) -> dict:
        return {"slot": self.chain.slot, "apiVersion": "2.1.0"}

    # Reads.

    def _getLatestBlockhash(self, config=None):
        blockhash, last_valid = self.chain.latest_blockhash()
        return {"context": self._context(), "value": {"blockhash": blockhash, "lastValidBlockHeight": last_valid}}

    def _getBlockHeight(self, config=None):
        return self.chain.block_height

    def _getSlot(self, config=None):
        return self.chain.slot

    def _getHealth(self):
        return "ok"

    def _getVersion(self):
        return {"solana-core": "2.1.0-localnet", "feature-set": 0}

    def _getBalance(self, pubkey, config=None):
        return {"context": self._context(), "value": self.chain.sol_balance(_pubkey(pubkey))}

    def _getMinimumBalanceForRentExemption(self, size, config=None):
        return self.chain.rent_exempt(int(size))

    def _getAccountInfo(self, pubkey, config=None):
        _account_encoding(config)
        account = self.chain.account(_pubkey(pubkey))
        return {"context": self._context(), "value": None if account is None else encode_account(account)}

    def _getMultipleAccounts(self, pubkeys, config=None):
        if len(pubkeys) > MAX_MULTIPLE_ACCOUNTS:
            raise RpcError(-32602, f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        _account_encoding(config)
        accounts = [self.chain.account(_pubkey(key)) for key in pubkeys]
        return {"context": self._context(),
                "value": [None if account is None else encode_account(account) for account in accounts]}

    def _getTokenAccountsByOwner(self, owner, filter_, config=None):
        program = Pubkey.from_string(filter_["programId"]) if "programId" in filter_ else None
        mint = filter_.get("mint")
        if program is not None and program not in TOKEN_PROGRAMS:
            raise RpcError(-32602, "Invalid param: unrecognized Token program id")
        encoding = (config or {}).get("encoding", "base64")
        value = []
        for address, account, parsed in self.chain.token_accounts(_pubkey(owner), mint=mint, program=program):
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

    def _getTokenAccountBalance(self, pubkey, config=None):
        from localnet.chain import _token_account

        parsed = _token_account(self.chain.account(_pubkey(pubkey)))
        if parsed is None:
            raise RpcError(-32602, "Invalid param: could not find account")
        mint = self.chain.mint(parsed.mint)
        return {"context": self._context(), "value": ui_amount(parsed.amount, mint.decimals if mint else 0)}

    def _getSignatureStatuses(self, signatures, config=None):
        value = []
        for signature in signatures:
            landed = self.chain.status(signature)
            if landed is None:
                value.append(None)
                continue
            value.append({"slot": landed.slot, "confirmations": None, "err": landed.err,
                          "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
                          "confirmationStatus": "confirmed"})
        return {"context": self._context(), "value": value}

    def _getTransaction(self, signature, config=None):
        landed = self.chain.status(signature)
        if landed is None:
            return None
        return _transaction_json(landed)

    # Writes.

    def _requestAirdrop(self, pubkey, lamports, config=None):
        self.chain.airdrop(_pubkey(pubkey), int(lamports))
        return str(b58.encode(bytes(64)))

    def _sendTransaction(self, encoded, config=None):
        config = config or {}
        transaction = _decode(encoded, config.get("encoding", "base58"))
        if not config.get("skipPreflight"):
            simulated = self.chain.simulate(transaction)
            if simulated.err is not None:
                raise RpcError(-32002, f"Transaction simulation failed: {_describe(simulated.err)}",
                               _simulation_value(simulated))
        result = self.chain.send(transaction, attempt=True)
        if result.err in ("BlockhashNotFound", "SignatureFailure", "InsufficientFundsForFee",
                          "AddressLookupTableNotFound", "InvalidAddressLookupTableIndex", "SanitizeFailure"):
            raise RpcError(-32002, f"Transaction simulation failed: {_describe(result.err)}",
                           _simulation_value(result))
        return result.signature

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
        result = self.chain.simulate(transaction, sig_verify=sig_verify, replace_blockhash=replace,
                                     addresses=addresses)
        value = _simulation_value(result)
        if replace:
            blockhash, last_valid = self.chain.latest_blockhash()
            value["replacementBlockhash"] = {"blockhash": blockhash, "lastValidBlockHeight": last_valid}
        return {"context": self._context(), "value": value}


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
