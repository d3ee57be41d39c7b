"""Prices that move on their own, for the offline sandbox: another trader swaps against the pools in the background.

Every tick a few tokens take a small random step (a buy or a sell of up to ``step_bps`` of the pool's reserve), and
now and then one token is pumped (a buy of 15-40% of its SOL reserve) or rugged (a dump of 20-60% of its token
reserve). Every move is a real swap through ``Localnet.swap_as``, the same code path as the bot's swaps, so quotes,
Price v3 and the stop-loss monitor all see it. Off unless asked for (``Localnet.start(price_walk=True)``).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from localnet.venue import SOL_MINT

logger = logging.getLogger("localnet.price_walk")
BPS = 10_000


@dataclass
class Move:
    symbol: str
    kind: str  # "step", "pump" or "rug"
    side: str  # "buy" or "sell"
    amount_raw: int


class PriceWalk:
    """A background thread of swaps. ``tick()`` makes one round of moves (tests call it directly)."""

    def __init__(self, localnet, *, symbols: tuple[str, ...], interval_seconds: float = 1.5, step_bps: int = 50,
                 event_chance: float = 0.02, seed: int | None = None) -> None:
        self.localnet = localnet
        self.symbols = symbols
        self.interval_seconds = interval_seconds
        self.step_bps = step_bps
        self.event_chance = event_chance  # per tick: a pump or a rug of one token
        self.moves: list[Move] = []
        self._random = random.Random(seed)
        self._trader = localnet.funded_keypair(sol=10)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one move at a time: the walk's thread and the sandbox page's buttons
        self._thread: threading.Thread | None = None

    def start(self) -> PriceWalk:
        self._thread = threading.Thread(target=self._run, name="PriceWalk", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def tick(self) -> list[Move]:
        moves = [self._step(symbol) for symbol in self._random.sample(self.symbols, k=min(2, len(self.symbols)))]
        if self._random.random() < self.event_chance:
            moves.append(self._event(self._random.choice(self.symbols)))
        for move in moves:
            self._swap(move)
        self.moves.extend(moves)
        return moves

    def pump(self, symbol: str) -> Move:
        return self._now(self._event(symbol, kind="pump"))

    def rug(self, symbol: str) -> Move:
        return self._now(self._event(symbol, kind="rug"))

    def _now(self, move: Move) -> Move:
        self._swap(move)
        self.moves.append(move)
        return move

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.tick()
            except Exception:  # a failed swap (a pool drained to dust) must not end the walk
                logger.warning("a price-walk swap failed", exc_info=True)

    def _step(self, symbol: str) -> Move:
        sol_reserve, token_reserve = self.localnet.pool(symbol)
        bps = self._random.randint(1, self.step_bps)
        if self._random.random() < 0.5:
            return Move(symbol, "step", "buy", sol_reserve * bps // BPS)
        return Move(symbol, "step", "sell", token_reserve * bps // BPS)

    def _event(self, symbol: str, *, kind: str | None = None) -> Move:
        kind = kind or self._random.choice(("pump", "rug"))
        sol_reserve, token_reserve = self.localnet.pool(symbol)
        if kind == "pump":
            return Move(symbol, kind, "buy", sol_reserve * self._random.randint(1_500, 4_000) // BPS)
        return Move(symbol, kind, "sell", token_reserve * self._random.randint(2_000, 6_000) // BPS)

    def _swap(self, move: Move) -> None:
        if move.amount_raw <= 0:
            return
        mint = self.localnet.token(move.symbol).mint
        trader = self._trader.pubkey()
        with self._lock:
            if move.side == "buy":
                if self.localnet.chain.sol_balance(trader) < move.amount_raw + 10**9:  # the walker never runs dry
                    self.localnet.chain.airdrop(trader, move.amount_raw + 10 * 10**9)
                self.localnet.swap_as(self._trader, SOL_MINT, mint, move.amount_raw)
            else:
                self.localnet.swap_as(self._trader, mint, SOL_MINT, move.amount_raw)
