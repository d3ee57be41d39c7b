"""A block engine speaking Jito's JSON-RPC (``/api/v1/bundles``, ``/api/v1/transactions``): bundles of up to five
signed transactions that land in order and all-or-nothing, never seen by the public RPC's sandwicher
(localnet.sandwich). A bundle is taken only if one of its transactions pays a tip account (a System transfer of at
least ``MIN_TIP_LAMPORTS``), as Jito's auction requires; ``knobs.bundle_drop_rate`` loses bundles (accepted, never
landed; a resend is a new draw), as bundles that lose the auction do.

The bundle id is Jito's: the hex SHA-256 of the base-58 signatures (the first of each transaction) joined by
commas (jito-solana's ``derive_bundle_id``), so the same transactions resent are the same bundle."""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction

from localnet import b58
from localnet.chain import Chain, Loaded
from localnet.hostile import Knobs, commitment
from localnet.http import Request, Response, Server

# Jito's eight mainnet tip accounts (getTipAccounts answers these there too).
TIP_ACCOUNTS = tuple(Pubkey.from_string(key) for key in (
    "96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5", "HFqU5x63VTqvQss8hp11i4wVV8bD44PvwucfZ2bU7gRe",
    "Cw8CFyM9FkoMi7K7Crf6HNQqf4uEMzpKw6QNghXLvLkY", "ADaUMid9yfUytqMBgopwjb2DTLSokTSzL1zt6iGPaS49",
    "DfXygSm4jCyNCybVYYK6DwvWqjKee8pbDmJGcLWNDXjh", "ADuUkR4vqLUMWXxW9gh6D6L8pMSawimctcNZ5pGwDcEt",
    "DttWaMuVvTiduZRnguLF7jNxTgiMBZ1hyAumKUiL2KRL", "3AVi9Tg9Uo68tJfuvoKvqKNWKkC5wPdSSdeBnizKZ6jT"))
MAX_BUNDLE_TRANSACTIONS = 5
MAX_STATUS_IDS = 5
MIN_TIP_LAMPORTS = 1_000  # Jito's minimum tip
NO_TIP = "bundle must write lock at least one tip account to be eligible for the auction"
SYSTEM_TRANSFER = 2


class BlockEngineError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Bundle:
    bundle_id: str
    signatures: list[str]
    status: str = "Pending"  # getInflightBundleStatuses: Pending, Failed, Landed
    landed_slot: int | None = None
    error: object | None = None  # why the last attempt did not land (a transaction's error), for tests


def bundle_id(signatures: list[str]) -> str:
    return hashlib.sha256(",".join(signatures).encode()).hexdigest()


class BlockEngine(Server):
    def __init__(self, chain: Chain, *, knobs: Knobs | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chain = chain
        self.knobs = knobs or Knobs()
        self.tip_accounts = list(TIP_ACCOUNTS)
        self.bundles: dict[str, Bundle] = {}
        self._lock = threading.Lock()

    def fund_tip_accounts(self) -> None:
        """Tip accounts exist on mainnet; a tip smaller than an account's rent-exempt minimum could not open one."""
        for account in self.tip_accounts:
            if self.chain.sol_balance(account) == 0:
                self.chain.airdrop(account, self.chain.rent_exempt(0))

    def request_name(self, request: Request) -> str:
        try:
            body = request.json()
        except ValueError:
            return "invalid"
        return body.get("method", "invalid") if isinstance(body, dict) else "invalid"

    def handle(self, request: Request) -> Response:
        methods = {"/api/v1/bundles": {"sendBundle": self._sendBundle, "getBundleStatuses": self._getBundleStatuses,
                                       "getInflightBundleStatuses": self._getInflightBundleStatuses,
                                       "getTipAccounts": self._getTipAccounts},
                   "/api/v1/transactions": {"sendTransaction": self._sendTransaction}}
        if request.method != "POST" or request.path not in methods:
            return Response.json({"error": "Not found"}, status=404)
        try:
            body = request.json()
        except ValueError:
            return Response.json({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        request_id = body.get("id") if isinstance(body, dict) else None
        try:
            method = methods[request.path].get(body.get("method") if isinstance(body, dict) else None)
            if method is None:
                raise BlockEngineError(-32601, "Method not found")
            result = method(*(body.get("params") or []))
        except BlockEngineError as err:
            return Response.json({"jsonrpc": "2.0", "id": request_id,
                                  "error": {"code": err.code, "message": err.message}})
        except (KeyError, TypeError, ValueError, IndexError) as err:
            return Response.json({"jsonrpc": "2.0", "id": request_id,
                                  "error": {"code": -32602, "message": f"Invalid params: {err}"}})
        return Response.json({"jsonrpc": "2.0", "id": request_id, "result": result})

    # /api/v1/bundles

    def _getTipAccounts(self, *_):
        return [str(account) for account in self.tip_accounts]

    def _sendBundle(self, encoded, config=None):
        if not isinstance(encoded, list) or not encoded:
            raise BlockEngineError(-32602, "bundle must contain at least one transaction")
        if len(encoded) > MAX_BUNDLE_TRANSACTIONS:
            raise BlockEngineError(-32602, f"bundle exceeds max transaction count of {MAX_BUNDLE_TRANSACTIONS}")
        encoding = (config or {}).get("encoding", "base58")
        transactions = [_decode(text, encoding) for text in encoded]
        return self.submit(transactions).bundle_id

    def _getBundleStatuses(self, ids, *_):
        if len(ids) > MAX_STATUS_IDS:
            raise BlockEngineError(-32602, f"too many bundle ids: at most {MAX_STATUS_IDS}")
        value = []
        for bundle in (self.bundles.get(bundle_id) for bundle_id in ids):
            landed = self.chain.status(bundle.signatures[0]) if bundle and bundle.status == "Landed" else None
            if landed is None:
                value.append(None)
                continue
            status, _ = commitment(self.chain, landed, at_slot=self.chain.slot)
            value.append({"bundle_id": bundle.bundle_id, "transactions": bundle.signatures, "slot": landed.slot,
                          "confirmation_status": status, "err": {"Ok": None}})
        return {"context": {"slot": self.chain.slot}, "value": value}

    def _getInflightBundleStatuses(self, ids, *_):
        if len(ids) > MAX_STATUS_IDS:
            raise BlockEngineError(-32602, f"too many bundle ids: at most {MAX_STATUS_IDS}")
        value = []
        for requested in ids:
            bundle = self.bundles.get(requested)
            if bundle is None:
                value.append({"bundle_id": requested, "status": "Invalid", "landed_slot": None})
            else:
                value.append({"bundle_id": bundle.bundle_id, "status": bundle.status,
                              "landed_slot": bundle.landed_slot})
        return {"context": {"slot": self.chain.slot}, "value": value}

    # /api/v1/transactions

    def _sendTransaction(self, encoded, config=None):
        """Jito forwards a single transaction as a bundle of one: protected, and held to the same tip rule."""
        transaction = _decode(encoded, (config or {}).get("encoding", "base58"))
        self.submit([transaction])
        return str(transaction.signatures[0])

    # Landing.

    def submit(self, transactions: list[VersionedTransaction]) -> Bundle:
        """Refuse a bundle without a tip; otherwise try to land it now (it lands whole, or not at all)."""
        if not any(self._tips(transaction) for transaction in transactions):
            raise BlockEngineError(-32602, NO_TIP)
        signatures = [str(transaction.signatures[0]) for transaction in transactions]
        key = bundle_id(signatures)
        with self._lock:
            bundle = self.bundles.setdefault(key, Bundle(key, signatures))
            if bundle.status == "Landed":
                return bundle
            if self.knobs.chance(self.knobs.bundle_drop_rate):
                bundle.status, bundle.error = "Failed", "dropped"  # lost the auction: a resend may win
                return bundle
            result = self.chain.land_bundle(transactions)
            if result.err is None or (result.err == "AlreadyProcessed" and self._all_landed(signatures)):
                bundle.status, bundle.landed_slot = "Landed", self.chain.status(signatures[0]).slot
            else:
                bundle.status, bundle.error = "Failed", result.err
            return bundle

    def _all_landed(self, signatures: list[str]) -> bool:
        return all(self.chain.status(signature) is not None for signature in signatures)

    def _tips(self, transaction: VersionedTransaction) -> bool:
        loaded = self.chain.load(transaction)
        if not isinstance(loaded, Loaded):
            return False
        tips = set(self.tip_accounts)
        for instruction in loaded.instructions:
            data = bytes(instruction.data)
            if (instruction.program_id == SYSTEM_PROGRAM_ID and len(data) >= 12 and len(instruction.accounts) >= 2
                    and int.from_bytes(data[:4], "little") == SYSTEM_TRANSFER
                    and instruction.accounts[1].pubkey in tips
                    and int.from_bytes(data[4:12], "little") >= MIN_TIP_LAMPORTS):
                return True
        return False


def _decode(encoded: str, encoding: str) -> VersionedTransaction:
    if encoding not in ("base58", "base64"):
        raise BlockEngineError(-32602, f"unsupported encoding: {encoding}")
    try:
        raw = base64.b64decode(encoded) if encoding == "base64" else b58.decode(encoded)
        return VersionedTransaction.from_bytes(raw)
    except ValueError:
        raise BlockEngineError(-32602, "transaction could not be decoded") from None
