"""A localnet that keeps its chain between runs, so a bot database made on one run still matches the chain on the
next (``python -m localnet`` keeps it in ``.localnet/state.json``; ``--fresh`` starts a new chain).

Kept: every account the chain holds that is not a program or a sysvar (wallets, owned by the System program; mints
and token accounts, by SPL Token and Token-2022; the pools' Address Lookup Tables), the slot and block height;
the tokens, the pools with their authorities' keys, the faucet's key; the ports and the Bot API token, so the
printed environment lines (the bot's .env) stay right; the Bot API's next update and message ids, so a bot that
kept polling does not skip the new run's updates.
Not kept: transaction history (getTransaction and getSignatureStatuses of an earlier run's signature answer null),
blockhashes (a transaction signed before the stop expires unlanded), chat messages, and the knobs, which each run's
command line gives. The keys in the file are localnet's own (pools, faucet), never a wallet of the bot's.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from localnet import Localnet, Token
from localnet.chain import ADDRESS_LOOKUP_TABLE_PROGRAM_ID
from localnet.venue import Pool

VERSION = 1
DEFAULT_PATH = Path(__file__).resolve().parent.parent / ".localnet" / "state.json"
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")
# Owners of every account a run creates: the programs themselves and the sysvars come with LiteSVM.
KEPT_OWNERS = (SYSTEM_PROGRAM_ID, TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, ADDRESS_LOOKUP_TABLE_PROGRAM_ID)
PORTS = ("rpc", "lagging_rpc", "jupiter", "telegram", "ws", "block_engine")


@dataclass(frozen=True)
class Started:
    localnet: Localnet
    restored: bool  # False: a new chain (seeded), whose state is kept from now on
    accounts: int  # how many accounts were restored


def start(path: Path, *, fresh: bool = False, ports: dict[str, int] | None = None, **knobs) -> Started:
    """Start localnet from the state in ``path`` (the same chain, ports and bot token as the last run), or a new
    seeded chain when there is none or ``fresh``. Ports given here (non-zero) win over the saved ones."""
    state = None if fresh else read(path)
    saved_ports = state["ports"] if state else {}
    chosen = {name: (ports or {}).get(name) or saved_ports.get(name, 0) for name in PORTS}
    localnet = Localnet(**{f"{name}_port": port for name, port in chosen.items()}, **knobs)
    if state is None:
        localnet.seed()
        restored = 0
    else:
        restored = restore(localnet, state)
    localnet.serve()  # restored before anything can ask: a bot still running never sees a half-built chain
    save(localnet, path)
    return Started(localnet, restored=state is not None, accounts=restored)


def read(path: Path) -> dict | None:
    """The saved state, or None when there is none. A file from another version is refused, not half-read."""
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise StateError(f"{path} cannot be read ({err}); move it away or start with --fresh") from None
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise StateError(f"{path} is not a localnet state file of version {VERSION}; start with --fresh")
    return state


class StateError(Exception):
    """The state file cannot be used; ``str()`` says what to do."""


def snapshot(localnet: Localnet) -> dict:
    """Everything ``restore`` needs, as JSON-ready values."""
    chain = localnet.chain
    with chain.lock:  # one consistent moment: no transaction lands halfway through the copy
        accounts = {str(address): _account_json(account)
                    for owner in KEPT_OWNERS for address, account in chain.program_accounts(owner)}
        slot, block_height = chain.slot, chain.block_height
    update_id, message_id = localnet.telegram.next_ids()
    return {
        "version": VERSION,
        "ports": _ports(localnet),
        "telegram": {"token": localnet.telegram.token, "next_update_id": update_id, "next_message_id": message_id},
        "chain": {"slot": slot, "block_height": block_height, "accounts": accounts},
        "faucet": str(localnet.faucet),
        "tokens": [token.__dict__ for token in localnet.tokens.values()],
        "pools": [{"symbol": pool.symbol, "mint": str(pool.mint), "decimals": pool.decimals,
                   "program": str(pool.program), "authority": str(pool.authority),
                   "lookup_table": str(pool.lookup_table)} for pool in localnet.jupiter.pools.values()],
    }


def save(localnet: Localnet, path: Path) -> None:
    """Write the state atomically (a crash mid-write leaves the previous file), readable by its owner alone: it
    holds the keys of localnet's pools and faucet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(snapshot(localnet), file, separators=(",", ":"))
    os.replace(temporary, path)


def restore(localnet: Localnet, state: dict) -> int:
    """Put a saved state into a localnet that has not started serving. Returns how many accounts it restored."""
    chain = localnet.chain
    accounts = state["chain"]["accounts"]
    for address, account in accounts.items():
        chain.set_account(address, _account(account))
    # Back at the saved height (one block on, with a fresh blockhash): lookup tables extended at a slot stay usable.
    chain.slot, chain.block_height = state["chain"]["slot"] - 1, state["chain"]["block_height"] - 1
    chain.advance_blocks(1)
    localnet.faucet = Keypair.from_base58_string(state["faucet"])
    localnet.tokens = {token["symbol"]: Token(**token) for token in state["tokens"]}
    for pool in state["pools"]:
        localnet.jupiter.add_pool(Pool(pool["symbol"], Pubkey.from_string(pool["mint"]), pool["decimals"],
                                       Pubkey.from_string(pool["program"]),
                                       Keypair.from_base58_string(pool["authority"]),
                                       lookup_table=Pubkey.from_string(pool["lookup_table"])))
    telegram = state["telegram"]
    localnet.telegram.token = telegram["token"]
    localnet.telegram.continue_ids(update_id=telegram["next_update_id"], message_id=telegram["next_message_id"])
    return len(accounts)


class Autosave:
    """Save every ``seconds`` in the background as well as at the end, so even a killed localnet loses little."""

    def __init__(self, localnet: Localnet, path: Path, *, seconds: float = 5.0) -> None:
        self._localnet, self._path, self._seconds = localnet, path, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localnet-autosave", daemon=True)

    def start(self) -> Autosave:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background saves and save once more (call before the servers stop)."""
        self._stop.set()
        self._thread.join(timeout=10)
        save(self._localnet, self._path)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            save(self._localnet, self._path)


def _ports(localnet: Localnet) -> dict[str, int]:
    urls = {"rpc": localnet.rpc_url, "lagging_rpc": localnet.lagging_rpc_url, "jupiter": localnet.jupiter_url,
            "telegram": localnet.telegram_api_base_url, "block_engine": localnet.block_engine_url}
    ports = {name: urlsplit(url).port or 0 for name, url in urls.items()}
    return ports | {"ws": localnet.logs.port or ports.get("ws", 0)}


def _account_json(account: Account) -> list:
    return [account.lamports, str(account.owner), base64.b64encode(bytes(account.data)).decode(),
            account.executable, account.rent_epoch]


def _account(values: list) -> Account:
    lamports, owner, data, executable, rent_epoch = values
    return Account(lamports=lamports, data=base64.b64decode(data), owner=Pubkey.from_string(owner),
                   executable=executable, rent_epoch=rent_epoch)
