"""What makes localnet as hostile as mainnet, each behaviour a knob of ``Knobs``, off by default except mainnet's
limits, which are rules rather than bad luck (the table,
with the mainnet behaviour each reproduces, is in localnet/README.md, "Hostile network"):

- ``slot_ms``: a slot clock; blocks advance on their own, statuses go processed -> confirmed -> finalized.
- ``strict_limits``: 256 signatures per getSignatureStatuses; getTransaction of v0 needs
  maxSupportedTransactionVersion (-32015).
- ``lag_slots``, ``lag_error_rate``: the node at ``lagging_rpc_url`` serves the chain some slots old and its reads
  fail now and then with -32005 / -32016.
- ``priority_fee_level``, ``underpriced_drop_rate``: a fee market.
- ``jupiter_rpm``: Jupiter's free-tier rate limit (429 with Retry-After), over a window of
  ``jupiter_window_seconds`` (a minute; shorter only to compress time in a benchmark).
- ``launch_unpriced_seconds`` (on: 60): Price v3 knows nothing of a token launched that recently.
- ``launch_confirm_slots``: a launch's mint reads as missing for that many slots after its ``processed``
  notification, as a mint not yet at ``confirmed``.
- ``sandwich_min_lamports``: a sandwicher front-runs and back-runs buys of at least that size sent through the public
  RPC (localnet.sandwich); ``bundle_drop_rate``: the block engine loses that share of bundles (localnet.block_engine).
- ``seed``: the random draws, reproducible.

Account state at an old slot comes from a journal of what landed transactions changed; airdrops, mints and other
set-up writes appear on every node at once. A lagging node's preflight runs on current state."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from localnet.chain import COMPUTE_BUDGET_PROGRAM_ID, Chain, Landed

CONFIRMED_DEPTH = 2  # slots after landing until a supermajority has voted on it (mainnet: about 1-2)
FINALIZED_DEPTH = 32  # slots after landing until it is rooted (mainnet: 31+ confirmations)
MAX_SIGNATURE_STATUSES = 256  # mainnet's getSignatureStatuses limit
RECENT_FEE_SLOTS = 150  # getRecentPrioritizationFees covers the blocks still in the node's cache
JOURNAL_SLOTS = 512  # how far back a lagging view can reach


@dataclass
class Knobs:
    """Every hostile behaviour, off by default; read live, so a test may turn one on mid-run."""

    slot_ms: int | None = None
    strict_limits: bool = True  # mainnet's rules, not bad luck: on unless a test asks otherwise
    lag_slots: int = 0
    lag_error_rate: float = 0.0
    priority_fee_level: int = 0
    underpriced_drop_rate: float = 0.0
    jupiter_rpm: int | None = None
    jupiter_window_seconds: float = 60.0
    # Price v3 leaves out tokens without a reliable price: every brand-new launch. A rule of the API, so on.
    launch_unpriced_seconds: float = 60.0
    launch_confirm_slots: int = 0
    sandwich_min_lamports: int | None = None  # None: no sandwicher
    bundle_drop_rate: float = 0.0
    seed: int | None = None
    random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool):  # once Localnet.start's token flag had this name
            raise TypeError("seed is the random draws' seed, a number; Localnet.start(tokens=False) lists no tokens")
        self.random = random.Random(self.seed)

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.random.random() < probability


MAINNET_DROP_RATE = 0.3  # sends lost by congested leaders on a busy day (50% and more reported at peaks)


def mainnet_profile(*, slot_ms: int = 400) -> dict[str, object]:
    """The knobs of a localnet as hostile as mainnet on a busy day, its slots ``slot_ms`` long (mainnet's 400, or
    shorter to compress time: the swap API's rate window shrinks in step). Sends dropped at random are set apart,
    on the chain (``chain.set_drop_rate``, ``MAINNET_DROP_RATE``), since that rate is what a run varies.

    A second node two slots behind whose reads fail now and then; a fee market at 8,000 micro-lamports per compute
    unit (1,600 lamports for a 200,000-unit swap) where half the underpriced sends are skipped; Jupiter's free tier;
    a launch's mint two slots late at confirmed; a sandwicher on buys of 1 SOL and more."""
    return {"slot_ms": slot_ms, "lag_slots": 2, "lag_error_rate": 0.05, "priority_fee_level": 8_000,
            "underpriced_drop_rate": 0.5, "jupiter_rpm": 60, "jupiter_window_seconds": 60.0 * slot_ms / 400,
            "launch_confirm_slots": 2, "sandwich_min_lamports": 10**9}


PROFILES = {"mainnet": mainnet_profile}


class SlotClock:
    """Produces a block every ``slot_ms`` whether or not anything happens; while it runs, a landed transaction
    joins the current slot instead of producing one."""

    def __init__(self, chain: Chain, slot_ms: int) -> None:
        self.chain, self.slot_ms = chain, slot_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="SlotClock", daemon=True)

    def start(self) -> SlotClock:
        self.chain.clock_running = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.chain.clock_running = False

    def _run(self) -> None:
        while not self._stop.wait(self.slot_ms / 1000):
            self.chain.advance_blocks(1)


def commitment(chain: Chain, landed: Landed, *, at_slot: int) -> tuple[str, int | None]:
    """(confirmationStatus, confirmations) of a landed transaction seen at ``at_slot``. Without a slot clock,
    every landed transaction reads as confirmed (localnet's kind default)."""
    if not chain.clock_running:
        return "confirmed", None
    depth = at_slot - landed.slot
    if depth >= FINALIZED_DEPTH:
        return "finalized", None
    return ("confirmed" if depth >= CONFIRMED_DEPTH else "processed"), depth


def compute_unit_price(transaction: VersionedTransaction) -> int:
    """The SetComputeUnitPrice the transaction carries, in micro-lamports per CU (0 without one)."""
    message = transaction.message
    for instruction in message.instructions:
        data = bytes(instruction.data)
        if (message.account_keys[instruction.program_id_index] == COMPUTE_BUDGET_PROGRAM_ID
                and data[:1] == b"\x03" and len(data) >= 9):
            return int.from_bytes(data[1:9], "little")
    return 0


def underpriced_drop(knobs: Knobs, transaction: VersionedTransaction) -> bool:
    """The fee market: does the leader skip this attempt for paying less than the going compute-unit price?"""
    return (compute_unit_price(transaction) < knobs.priority_fee_level
            and knobs.chance(knobs.underpriced_drop_rate))


class Journal:
    """What each landed transaction found in the accounts it loaded, so that a lagging node can read the state as
    it was some slots ago (kept for ``JOURNAL_SLOTS``)."""

    def __init__(self) -> None:
        self._entries: deque[tuple[int, dict[Pubkey, Account | None]]] = deque()
        self._held: dict[Pubkey, int] = {}  # account -> first slot at which a reader at confirmed sees it
        self._lock = threading.Lock()

    def hold(self, key: Pubkey, *, until_slot: int) -> None:
        """``key`` reads as missing before ``until_slot``: it exists at processed, not yet at confirmed."""
        with self._lock:
            self._held[key] = until_slot

    def held(self, key: Pubkey, slot: int) -> bool:
        with self._lock:
            until = self._held.get(key)
            if until is not None and slot >= until:
                del self._held[key]
                return False
            return until is not None

    def record(self, slot: int, before: dict[Pubkey, Account | None]) -> None:
        with self._lock:
            self._entries.append((slot, before))
            while self._entries and self._entries[0][0] < slot - JOURNAL_SLOTS:
                self._entries.popleft()

    def as_of(self, slot: int) -> dict[Pubkey, Account | None]:
        """Accounts that differ at ``slot`` from now, as they were then (None: did not exist)."""
        overrides: dict[Pubkey, Account | None] = {}
        with self._lock:
            for landed_slot, before in reversed(self._entries):
                if landed_slot <= slot:
                    break
                overrides.update(before)  # walking back: the earliest change after ``slot`` wins
        return overrides


class RateLimit:
    """Jupiter's free tier: ``rpm`` requests a sliding minute per API key; over it, 429 with Retry-After."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, rpm: int | None, *, window: float = 60.0) -> int | None:
        """None when the request is admitted (and counted), else the whole seconds until it would be."""
        if rpm is None:
            return None
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) < rpm:
                seen.append(now)
                return None
            return max(1, math.ceil(seen[0] + window - now))
