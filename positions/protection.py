"""MEV protection for one trade: when the trader has it on, the swap tips the block engine instead of paying a
priority fee and is sent there as a bundle, never to the public RPC where sandwichers watch. The tip accounts come
from the block engine and join the inspector's, which holds any tip to the trader's own setting."""

from __future__ import annotations

from dataclasses import dataclass

from custody.inspection import SwapInspector
from kernel.chain.errors import ChainError
from kernel.chain.jito import BlockEngineClient
from positions.errors import MevProtectionUnavailable, ServiceUnavailable
from wallets.models import UserSettings


@dataclass(frozen=True)
class Protection:
    tip_lamports: int  # asked of the swap API, and the most the inspector lets the swap tip
    block_engine: BlockEngineClient | None  # None: the public RPC, as an unprotected trade goes

    @property
    def on(self) -> bool:
        return self.block_engine is not None


UNPROTECTED = Protection(0, None)


async def protection_for(settings: UserSettings, *, block_engine: BlockEngineClient | None,
                         inspector: SwapInspector) -> Protection:
    """The trade's protection. Nothing is sent in the open that the trader asked to keep out of it: with protection
    on and no block engine configured, the trade is refused."""
    if not settings.mev_protection:
        return UNPROTECTED
    if block_engine is None:
        raise MevProtectionUnavailable()
    try:
        inspector.add_tip_accounts(await block_engine.tip_accounts())  # read once, then kept by the client
    except ChainError as err:
        raise ServiceUnavailable(err) from None
    return Protection(settings.jito_tip_lamports, block_engine)
