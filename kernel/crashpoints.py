"""Named points where a crash-recovery proof may kill this process outright (SIGKILL, as a power cut would).

Inert unless the environment variable TRADINGBOT_CRASH_AT names one of the points, which only the proof suite
(``tests/proof/test_crash_anywhere.py``) sets on the bot processes it starts. Never set it in production.
"""

from __future__ import annotations

import os
import signal

# ".resent": after a round of resending the same bytes, while the first copies may or may not have landed
POINTS = ("buy.quoted", "buy.signed", "buy.recorded", "buy.sent", "buy.resent", "buy.confirmed", "buy.applied",
          "sell.quoted", "sell.signed", "sell.recorded", "sell.sent", "sell.resent", "sell.confirmed", "sell.applied",
          # an order's firing row is written (the order is "firing") and its trade not started; its trade returned
          # and the order not yet updated
          "order.claimed", "order.fired")
_TARGET = os.environ.get("TRADINGBOT_CRASH_AT", "")


def crashpoint(name: str) -> None:
    if _TARGET and name == _TARGET:
        os.kill(os.getpid(), signal.SIGKILL)
