"""The priority fee a trade offers: the trader's fixed amount, or a percentile of the fee market turned into
lamports for a swap's compute units, never above the trader's amount (their maximum, and the inspector's cap)."""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey

from kernel.chain.jupiter import Quote
from kernel.chain.rpc import RpcGateway
from wallets.models import FeeLevel, UserSettings

PERCENTILES = {FeeLevel.FAST: 75, FeeLevel.TURBO: 95}
# The compute units a swap is priced for. Jupiter spreads the lamports we give it over the swap's compute-unit
# limit, so the price it sets is at least the market's as long as the limit is no higher than this; a simple
# route stays well under it (and then pays a little above the market).
SWAP_COMPUTE_UNITS = 200_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000


@dataclass(frozen=True)
class PriorityFee:
    lamports: int
    level: str  # a FeeLevel value


async def priority_fee(rpc: RpcGateway, settings: UserSettings, quote: Quote) -> PriorityFee:
    """What this trade offers as a priority fee, in lamports, and the level it came from."""
    level = settings.priority_fee_level
    maximum = settings.priority_fee_lamports
    if level not in PERCENTILES:
        return PriorityFee(maximum, FeeLevel.FIXED)
    price = await rpc.recent_priority_fee(_pools(quote), percentile=PERCENTILES[level])
    return PriorityFee(min(swap_fee_lamports(price), maximum), level)


def swap_fee_lamports(micro_lamports_per_unit: int) -> int:
    """A compute-unit price as lamports for a swap, rounded up so the price Jupiter sets is not below it."""
    return -(-micro_lamports_per_unit * SWAP_COMPUTE_UNITS // MICRO_LAMPORTS_PER_LAMPORT)


def _pools(quote: Quote) -> list[str]:
    """The route's pools, written by the swap: the fees paid to write them are the market this trade is in."""
    pools = []
    for step in quote.raw.get("routePlan") or []:
        key = (step.get("swapInfo") or {}).get("ammKey") if isinstance(step, dict) else None
        if isinstance(key, str) and _is_pubkey(key):
            pools.append(key)
    return pools


def _is_pubkey(text: str) -> bool:
    try:
        Pubkey.from_string(text)
    except ValueError:
        return False
    return True
