"""One shared budget of requests to the swap API, where a trader's trade always goes first.

Jupiter's free tier answers 60 requests a minute and refuses the rest (429 with Retry-After); paid tiers allow more,
but every tier has a number. The monitor's price polls alone could spend it (1,000 open mints is 20 requests a
cycle), and a trade refused for rate is the worst outcome the bot can give. So every request takes a slot from one
sliding 60-second window:

- a trade's requests (quote, swap, and what a trader's screen needs) wait for a slot, and may use all of them;
- background requests (the monitor's price polls) take slots only while ``reserve`` of them stay free for trades,
  all the slots a cycle needs at once or none, and never wait: the monitor puts its cycle off instead (and counts
  it in ``trading_bot_monitor_cycles_deferred_total``), which stretches its interval while the budget is tight.

A server's Retry-After closes the window for everyone until it has passed. A slot is given back a little after the
window (a sixtieth of it: a second in a minute), since the server counted the request when it arrived, later than the
slot was taken: a burst at the window's edge would otherwise meet 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class BudgetExhausted(Exception):
    """A background request found no slot to spare: put it off (it is never a trader's)."""


class RequestBudget:
    def __init__(self, per_minute: int, *, reserve: int | None = None, window_seconds: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.reserve = max(1, per_minute // 4) if reserve is None else reserve
        self.window_seconds = window_seconds
        self._clock = clock
        self._taken: deque[float] = deque()
        self._closed_until = 0.0

    def free(self, *, background: bool = False) -> int:
        """Slots a request of this kind may take now."""
        now = self._clock()
        self._forget(now)
        if now < self._closed_until:
            return 0
        free = self.per_minute - len(self._taken)
        return max(0, free - self.reserve) if background else free

    def take_now(self, count: int = 1, *, background: bool = True) -> None:
        """All ``count`` slots at once, or BudgetExhausted and none."""
        if self.free(background=background) < count:
            raise BudgetExhausted(f"{count} request(s) put off: the swap API's budget is kept for trades")
        self._taken.extend([self._clock()] * count)

    async def take(self) -> None:
        """One slot for a trade: waits for the window to free one (or for a Retry-After to pass)."""
        while self.free() < 1:
            now = self._clock()
            oldest = self._taken[0] + self._held_for if len(self._taken) >= self.per_minute else now
            await asyncio.sleep(max(self._closed_until, oldest) - now + 0.001)
        self._taken.append(self._clock())

    @property
    def _held_for(self) -> float:
        return self.window_seconds * 61 / 60

    def close_for(self, seconds: float) -> None:
        """The server asked everyone to wait (Retry-After)."""
        self._closed_until = max(self._closed_until, self._clock() + seconds)

    def _forget(self, now: float) -> None:
        while self._taken and self._taken[0] <= now - self._held_for:
            self._taken.popleft()
