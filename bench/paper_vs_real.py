"""One scripted trading session, played once with real SOL and once on paper: how far paper PnL is from real PnL.
Prints a table; asserts nothing.

    .venv/bin/python -m bench.paper_vs_real [--json PATH]

Each run starts a fresh localnet with three new tokens (pools of ``--pool-sol`` each, 3,000 SOL and 30 SOL by
default: a deep pool and a thin, new one) and a trader with 10 SOL (real: in the wallet; paper: the paper book's
PAPER_START_SOL), then plays the same steps through the trading engine and the monitor:

1. buy 1 SOL of A; sell 50%; another trader pumps A (buys with half the pool's SOL); sell the rest;
2. buy 0.5 SOL of B with a 20% stop loss; another trader dumps B (sells half the pool's tokens); the monitor's stop
   loss sells it;
3. buy 0.5 SOL of C and place a limit sell of all of it at 1.5x; another trader pumps C; the order fires.

Per step: the realized PnL in each book and the difference. At the end: each book's SOL against its 10 SOL start
(the real wallet's balance on chain, the paper book's balance), transactions sent and keys opened (paper: none).
The difference is the price impact of the trader's own trades: a real buy moves the pool before the same trader's
sale, a paper one does not.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from dataclasses import dataclass, field
from decimal import Decimal

from bench._django import setup_django
from bench._figures import write_figures

SOL = 10**9
START = 10 * SOL
_user_ids = itertools.count(960_000)


@dataclass
class Run:
    paper: bool
    pool_sol: int
    steps: list[tuple[str, int]] = field(default_factory=list)  # (step, realized PnL in lamports)
    end_lamports: int = 0  # SOL held at the end: the wallet's on chain (real), the paper book's (paper)
    sends: int = 0
    keys_opened: int = 0

    @property
    def name(self) -> str:
        return "paper" if self.paper else "real"

    @property
    def realized(self) -> int:
        return sum(pnl for _, pnl in self.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool-sol", type=int, nargs="+", default=[3000, 30],
                        help="SOL in each token's pool, one session per value (default: 3000 30)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    pairs = []
    for pool_sol in args.pool_sol:
        pair = []
        for paper in (False, True):
            with Localnet.start(tokens=False) as localnet:
                pair.append(asyncio.run(_session(localnet, Run(paper, pool_sol))))
        _print(pair)
        pairs.append(pair)
    if args.json:
        write_figures(args.json, "paper_vs_real", full=True, result=_verdict(pairs),
                      summary="; ".join(f"{real.pool_sol} SOL pools: session PnL real "
                                        f"{_sol(real.end_lamports - START)} SOL, paper "
                                        f"{_sol(paper.end_lamports - START)} SOL" for real, paper in pairs),
                      runs=[{"book": run.name, "pool_sol": run.pool_sol, "steps": dict(run.steps),
                             "end_lamports": run.end_lamports, "sends": run.sends, "keys_opened": run.keys_opened}
                            for pair in pairs for run in pair])


def _verdict(pairs: list[list[Run]]) -> str:
    misses = []
    for real, paper in pairs:
        if paper.sends or paper.keys_opened:
            misses.append(f"paper sent {paper.sends} transactions and opened {paper.keys_opened} keys")
        if not real.sends:
            misses.append("the real run sent nothing (the watch would not see a send)")
    return "PASS" if not misses else "FAIL: " + "; ".join(misses)


async def _session(localnet, run: Run) -> Run:
    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from custody.services import get_or_create_user_wallet
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions import paper
    from positions.amounts import SellAmount
    from positions.models import Position, Trade
    from positions.monitor import Monitor
    from positions.order_placing import TriggerKind, TriggerSpec, place_limit_sell
    from positions.orders import OrderEngine
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets import signing
    from wallets.crypto import Keyring
    from wallets.models import UserSettings

    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000",
                          "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_LOSS_SOL": "100"})
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    user_id = next(_user_ids)
    wallet = (await sync_to_async(get_or_create_user_wallet)(user_id, f"p{user_id}", config=config)).wallet
    localnet.chain.airdrop(wallet.public_key, START)
    if run.paper:
        await sync_to_async(paper.set_mode)(telegram_user_id=user_id, paper=True, config=config)
    monitor = Monitor(engine, orders=OrderEngine(engine, retry_base_seconds=0))
    mint = {symbol: localnet.create_token(symbol, decimals=6, pool_sol_lamports=run.pool_sol * SOL,
                                          pool_tokens_raw=run.pool_sol * 10**12 // 3).mint
            for symbol in ("A", "B", "C")}

    def pump(symbol: str) -> None:
        # Another trader buys with half the pool's SOL: the price rises to about 2.25 times.
        localnet.swap_as(localnet.funded_keypair(sol=run.pool_sol), localnet.sol_mint, mint[symbol],
                         localnet.pool(symbol)[0] // 2)

    def dump(symbol: str) -> None:
        # Another trader sells half the pool's tokens: the price falls to about 44%.
        localnet.swap_as(localnet.funded_keypair(sol=1), mint[symbol], localnet.sol_mint, localnet.pool(symbol)[1] // 2)

    async def realized(symbol: str) -> int:
        position = await Position.objects.filter(user=wallet, token_mint=mint[symbol]).alatest("opened_at")
        return position.realized_pnl_lamports

    opened: list[str] = []

    def watch(frame, event, arg) -> None:
        if event == "call" and frame.f_code in (signing._open.__code__,):
            opened.append(frame.f_code.co_name)

    sends_before = localnet.rpc.requests["sendTransaction"]
    sys.setprofile(watch)
    try:
        await engine.execute_buy(telegram_user_id=user_id, mint=mint["A"], lamports=SOL)
        half = await engine.execute_sell(telegram_user_id=user_id, mint=mint["A"], amount=SellAmount.parse("50%"))
        run.steps.append(("A: sell 50%", half.realized_pnl_lamports))
        pump("A")
        rest = await engine.execute_sell(telegram_user_id=user_id, mint=mint["A"], amount=SellAmount.all())
        run.steps.append(("A: sell the rest after a pump", rest.realized_pnl_lamports))

        await engine.execute_buy(telegram_user_id=user_id, mint=mint["B"], lamports=SOL // 2)
        await UserSettings.objects.filter(user=wallet).aupdate(stop_loss_percentage=Decimal(20))
        dump("B")
        await monitor.run_cycle()
        await UserSettings.objects.filter(user=wallet).aupdate(stop_loss_percentage=None)
        run.steps.append(("B: stop loss after a dump", await realized("B")))

        await engine.execute_buy(telegram_user_id=user_id, mint=mint["C"], lamports=SOL // 2)
        await place_limit_sell(engine, telegram_user_id=user_id, mint=mint["C"], amount=SellAmount.all(),
                               trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal("1.5"), "1.5x"), expires_in=None,
                               now=timezone.now())
        await monitor.run_cycle()  # not yet
        pump("C")
        await monitor.run_cycle()
        run.steps.append(("C: limit sell at 1.5x after a pump", await realized("C")))
    finally:
        sys.setprofile(None)
        await rpc.close()
        await jupiter.close()
    run.sends = localnet.rpc.requests["sendTransaction"] - sends_before
    run.keys_opened = len(opened)
    assert not await Position.objects.filter(user=wallet, is_open=True).aexists(), "every position is closed"
    if run.paper:
        run.end_lamports = (await sync_to_async(paper.book)(wallet, config)).balance_lamports
        assert localnet.chain.sol_balance(wallet.public_key) == START, "paper never touches the wallet"
    else:
        run.end_lamports = localnet.chain.sol_balance(wallet.public_key)
    assert await Trade.objects.filter(user=wallet, paper=not run.paper).acount() == 0
    return run


def _sol(lamports: int) -> str:
    return f"{Decimal(lamports) / SOL:+.9f}"


def _print(runs: list[Run]) -> None:
    real, paper = runs
    print(f"One scripted session in pools of {real.pool_sol:,} SOL each, played with real SOL and on paper, each "
          "from 10 SOL on a fresh localnet")
    header = f"{'step':<40}  {'real PnL (SOL)':>15}  {'paper PnL (SOL)':>15}  {'paper - real':>13}"
    print(header)
    print("-" * len(header))
    for (step, real_pnl), (_, paper_pnl) in zip(real.steps, paper.steps, strict=True):
        print(f"{step:<40}  {_sol(real_pnl):>15}  {_sol(paper_pnl):>15}  {_sol(paper_pnl - real_pnl):>13}")
    print(f"{'realized PnL, all steps':<40}  {_sol(real.realized):>15}  {_sol(paper.realized):>15}  "
          f"{_sol(paper.realized - real.realized):>13}")
    print(f"{'SOL at the end, against the start':<40}  {_sol(real.end_lamports - START):>15}  "
          f"{_sol(paper.end_lamports - START):>15}  {_sol(paper.end_lamports - real.end_lamports):>13}")
    print(f"transactions sent: real {real.sends}, paper {paper.sends}; keys opened: real {real.keys_opened}, "
          f"paper {paper.keys_opened}")
    print("(the difference is the price impact of the trader's own trades: a real buy moves the pool before the "
          "same trader's sale; a paper one does not)")


if __name__ == "__main__":
    main()
