"""What a transaction did to one owner, as plain integers: read from the chain by ``kernel.chain.rpc`` for a real
trade, written from the quote by ``positions.paper`` for a paper one. A module of its own, so that the paper side
needs nothing of the code that talks to the network."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransactionEffects:
    """What a confirmed transaction really did to one owner: signed deltas in lamports and raw token units."""

    fee_lamports: int
    sol_change_lamports: int
    token_change_raw: int
    error: str
    # Of sol_change_lamports: the rent that funded the owner's token account for the mint when this transaction
    # created it, and the rent that came back when it closed it (a deposit, not a cost or a proceed of the trade).
    rent_paid_lamports: int = 0
    rent_returned_lamports: int = 0
    tip_lamports: int = 0  # what the block engine's tip accounts received (MEV protection), part of the SOL change
