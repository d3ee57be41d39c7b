"""What MEV protection saves with a sandwicher watching the public RPC. Prints a table; asserts nothing.

    .venv/bin/python -m bench.mev [--buys 20] [--sol 2] [--slippage-bps 500] [--json PATH]

localnet's sandwicher front-runs and back-runs every buy of at least 1 SOL sent to the public RPC whose slippage
leaves room, pushing the victim's output down to its minimum. The same large buys (``--buys`` of ``--sol`` each, by
a few users, spread over the seeded tokens) run once unprotected and once with MEV protection on (through the block
engine, with the default 0.0001 SOL tip). Per case: buys landed, buys sandwiched, the average loss against the quote
in lamports (the tokens short of the quoted output, valued at the quote's own price), the average network fee and
tip, the average total cost of execution (loss + fee + tip), and the lamports the ledger does not explain (must be
0).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from dataclasses import dataclass, field

from bench._django import setup_django
from bench._figures import write_figures

SOL = 10**9
FUNDING = 100 * SOL
USERS = 4
SYMBOLS = ("BONK", "WIF", "JUP", "NINE")
_user_ids = itertools.count(930_000)


@dataclass
class Case:
    protected: bool
    landed: int = 0
    failed: int = 0
    sandwiched: int = 0
    losses: list[int] = field(default_factory=list)  # lamports: the tokens short of the quote, at the quote's price
    tips: list[int] = field(default_factory=list)
    fees: list[int] = field(default_factory=list)  # the network fee: signature and priority fee
    unexplained_lamports: int = 0

    @property
    def name(self) -> str:
        return "protected" if self.protected else "unprotected"

    def average(self, values: list[int]) -> int:
        return sum(values) // len(values) if values else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buys", type=int, default=20, help="buys per case (default 20)")
    parser.add_argument("--sol", type=int, default=2, help="SOL per buy (default 2; the sandwicher takes >= 1)")
    parser.add_argument("--slippage-bps", type=int, default=500, help="the buyers' slippage (default 500 = 5%%)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start(sandwich_min_lamports=SOL) as localnet:
        cases = [asyncio.run(_run(localnet, Case(protected), args)) for protected in (False, True)]
    _print(cases, args)
    if args.json:
        write_figures(args.json, "mev", full=args.buys >= 20, buys=args.buys, sol=args.sol,
                      slippage_bps=args.slippage_bps, result=_verdict(cases), summary=_summary(cases),
                      runs=[_figures(case) for case in cases])


def _verdict(cases: list[Case]) -> str:
    unprotected, protected = cases
    misses = []
    if protected.sandwiched:
        misses.append(f"{protected.sandwiched} protected buys sandwiched")
    if not unprotected.sandwiched:
        misses.append("no unprotected buy was sandwiched (the setting would not matter)")
    misses += [f"{case.name}: {case.unexplained_lamports} lamports unexplained" for case in cases
               if case.unexplained_lamports]
    return "PASS" if not misses else "FAIL: " + "; ".join(misses)


def _summary(cases: list[Case]) -> str:
    return "; ".join(f"{case.name}: {case.sandwiched}/{case.landed} sandwiched, average loss "
                     f"{case.average(case.losses)} lamports vs the quote + tip {case.average(case.tips)}"
                     for case in cases)


async def _run(localnet, case: Case, args) -> Case:
    from asgiref.sync import sync_to_async

    from custody.services import update_setting
    from kernel.chain.jito import BlockEngineClient
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.errors import TradingError
    from positions.models import Trade
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring

    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "JITO_BLOCK_ENGINE_URL": localnet.block_engine_url, "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY,
                          "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "MAX_POSITION_SIZE_SOL": str(args.sol),
                          "MAX_DAILY_SPEND_SOL": "100000", "MAX_DAILY_LOSS_SOL": "100000",
                          "DEFAULT_SLIPPAGE_BPS": str(args.slippage_bps)})
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    block_engine = BlockEngineClient(config.jito_block_engine_url)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config,
                            block_engine=block_engine)
    users = [await _user(engine, localnet) for _ in range(USERS)]
    for user_id, _ in users:
        await sync_to_async(update_setting)(telegram_user_id=user_id, key="mev_protection", value=case.protected)

    async def buys(user_id: int, offset: int) -> None:
        for index in range(offset, args.buys, USERS):
            mint = localnet.token(SYMBOLS[index % len(SYMBOLS)]).mint
            try:
                result = await engine.execute_buy(telegram_user_id=user_id, mint=mint, lamports=args.sol * SOL)
            except TradingError:
                case.failed += 1
                continue
            trade = await Trade.objects.aget(signature=result.signature)
            case.landed += 1
            case.sandwiched += result.signature in {s.victim for s in localnet.sandwiches}
            case.losses.append(trade.lamports_in * (trade.quoted_out - trade.amount_out_raw) // trade.quoted_out)
            case.tips.append(trade.tip_lamports)
            case.fees.append(trade.fee_lamports)

    try:
        await asyncio.gather(*(buys(user_id, offset) for offset, (user_id, _) in enumerate(users)))
    finally:
        await rpc.close()
        await jupiter.close()
        await block_engine.close()
    await _check_ledger(localnet, case, users)
    return case


async def _user(engine, localnet):
    from asgiref.sync import sync_to_async

    from custody.services import get_or_create_user_wallet

    user_id = next(_user_ids)
    wallet = (await sync_to_async(get_or_create_user_wallet)(user_id, f"m{user_id}", config=engine.config)).wallet
    localnet.chain.airdrop(wallet.public_key, FUNDING)
    return user_id, wallet


async def _check_ledger(localnet, case: Case, users) -> None:
    from django.db.models import Sum

    from positions.models import Trade

    for _, wallet in users:
        flows = await Trade.objects.filter(user=wallet).aaggregate(total=Sum("sol_change_lamports"))
        case.unexplained_lamports += abs(localnet.chain.sol_balance(wallet.public_key)
                                         - FUNDING - (flows["total"] or 0))


def _print(cases: list[Case], args) -> None:
    print(f"{args.buys} buys of {args.sol} SOL per case at {args.slippage_bps / 100:g}% slippage, a sandwicher on "
          "the public RPC taking buys of 1 SOL or more")
    header = (f"{'case':<11}  {'landed':>6}  {'failed':>6}  {'sandwiched':>10}  {'avg loss vs quote':>17}  "
              f"{'avg fee':>7}  {'avg tip':>8}  {'avg cost':>9}  {'unexplained lamports':>20}")
    print(header)
    print("-" * len(header))
    for case in cases:
        cost = case.average([sum(costs) for costs in zip(case.losses, case.fees, case.tips, strict=True)])
        print(f"{case.name:<11}  {case.landed:>6}  {case.failed:>6}  {case.sandwiched:>10}  "
              f"{case.average(case.losses):>17}  {case.average(case.fees):>7}  {case.average(case.tips):>8}  "
              f"{cost:>9}  {case.unexplained_lamports:>20}")
    print("(lamports; a loss is the tokens short of the quoted output, valued at the quote's price)")


def _figures(case: Case) -> dict:
    return {"case": case.name, "landed": case.landed, "failed": case.failed, "sandwiched": case.sandwiched,
            "average_loss_lamports": case.average(case.losses), "average_tip_lamports": case.average(case.tips),
            "average_fee_lamports": case.average(case.fees),
            "unexplained_lamports": case.unexplained_lamports}


if __name__ == "__main__":
    main()
