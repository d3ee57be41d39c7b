"""A sandwicher watching the public RPC (``knobs.sandwich_min_lamports``): a buy of at least that many lamports whose
slippage leaves room is front-run and back-run, as mainnet's searchers do with the transactions they see. Its own
keypair buys right before the victim, just enough to push the victim's output down to the victim's own minimum (the
``threshold`` of its route: the most the slippage setting allows), and sells right after; the three land in order
and all-or-nothing, the way a searcher's bundle does, so the victim gets exactly its minimum. (A searcher bound by
profit would buy less when the pool's fee eats the gain; this one always takes the most, the worst case for the
victim, and is refloated for free.) Transactions landed through the block engine never pass here.

Only buys (SOL in) are sandwiched; each sandwich is recorded in ``Sandwicher.sandwiches``."""

from __future__ import annotations

from dataclasses import dataclass

from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from localnet.chain import JUPITER_PROGRAM_ID, Chain, Loaded, SendResult
from localnet.hostile import Knobs
from localnet.venue import BUY, Route, SwapVenue, pool_out, sign_as

SIGNATURE_FEE = 5_000
TOKEN_ACCOUNT_RENT = 2_039_280
WALLET_RENT = 890_880  # a system account's rent-exempt minimum


@dataclass(frozen=True)
class Sandwich:
    victim: str  # the victim's signature
    front_run: str
    back_run: str
    mint: str
    front_lamports: int  # what the sandwicher bought with
    victim_out: int  # what the victim received: its minimum, or within a unit of it
    victim_quoted: int  # what it would have received unsandwiched, at the reserves it met
    profit_lamports: int  # the sandwicher's, after fees (negative where the pool's fee ate it)


class Sandwicher:
    def __init__(self, chain: Chain, venue: SwapVenue, knobs: Knobs) -> None:
        self.chain, self.venue, self.knobs = chain, venue, knobs
        self.keypair = Keypair()
        self.sandwiches: list[Sandwich] = []

    def send(self, transaction: VersionedTransaction) -> SendResult:
        """What the public RPC's sendTransaction does with a transaction once it is in the open: sandwich it if it
        is worth it, else pass it on as usual (drops included)."""
        if self.knobs.sandwich_min_lamports is None:
            return self.chain.send(transaction, attempt=True)
        with self.chain.lock:  # nothing lands between seeing it and the three landing
            plan = self._plan(transaction)
            if plan is not None:
                result = self._strike(transaction, *plan)
                if result is not None:
                    return result
            return self.chain.send(transaction, attempt=True)

    def _plan(self, transaction: VersionedTransaction) -> tuple[Route, int] | None:
        """The victim's route and the largest front-run that still leaves it its minimum, if its slippage leaves
        any room."""
        if str(transaction.signatures[0]) in self.chain.history:
            return None
        loaded = self.chain.load(transaction)
        if not isinstance(loaded, Loaded):
            return None
        routes = [ix for ix in loaded.instructions if ix.program_id == JUPITER_PROGRAM_ID]
        if len(routes) != 1:
            return None
        try:
            route = Route.decode(bytes(routes[0].data))
        except ValueError:
            return None
        if (route.direction != BUY or route.amount_in < self.knobs.sandwich_min_lamports
                or str(route.mint) not in self.venue.pools):
            return None
        sol, tokens = self.venue.reserves(str(route.mint))
        front = _largest_front_run(sol, tokens, route.amount_in, route.threshold)
        return (route, front) if front > 0 else None

    def _strike(self, victim: VersionedTransaction, route: Route, front: int) -> SendResult | None:
        mint = str(route.mint)
        pool = self.venue.pools[mint]
        me = self.keypair.pubkey()
        needed = front + 2 * SIGNATURE_FEE + TOKEN_ACCOUNT_RENT + WALLET_RENT
        held = self.chain.sol_balance(me)
        if held < needed:
            self.chain.airdrop(me, needed - held)  # a searcher's float
        sol, tokens = self.venue.reserves(mint)
        bought = pool_out(sol, tokens, front)
        victim_out = pool_out(sol + front, tokens - bought, route.amount_in)
        back = pool_out(tokens - bought - victim_out, sol + front + route.amount_in, bought)
        blockhash, _ = self.chain.latest_blockhash()
        buy = sign_as(self.keypair, self.venue.build_swap(pool, me, sol_in=True, amount=front, out=bought,
                                                          threshold=bought, priority_fee=0, blockhash=blockhash))
        sell = sign_as(self.keypair, self.venue.build_swap(pool, me, sol_in=False, amount=bought, out=back,
                                                           threshold=0, priority_fee=0, blockhash=blockhash))
        before = self.chain.sol_balance(me)
        result = self.chain.land_bundle([buy, victim, sell])
        if result.err is not None:
            return None  # it would not have worked out: the victim goes its way
        self.sandwiches.append(Sandwich(
            victim=str(victim.signatures[0]), front_run=str(buy.signatures[0]), back_run=str(sell.signatures[0]),
            mint=mint, front_lamports=front, victim_out=victim_out,
            victim_quoted=pool_out(sol, tokens, route.amount_in),
            profit_lamports=self.chain.sol_balance(me) - before))
        return SendResult(str(victim.signatures[0]))


def _largest_front_run(sol: int, tokens: int, amount: int, threshold: int) -> int:
    """The most SOL a buy ahead of the victim may spend with the victim still getting ``threshold`` (a binary search
    on the pool's own rounding, so the victim's route passes by the last unit)."""
    def victim_gets(front: int) -> int:
        bought = pool_out(sol, tokens, front)
        return pool_out(sol + front, tokens - bought, amount)

    low, high = 0, max(sol, amount) * 10
    if victim_gets(0) < threshold:
        return 0
    while low < high:
        middle = (low + high + 1) // 2
        if victim_gets(middle) >= threshold:
            low = middle
        else:
            high = middle - 1
    return low

