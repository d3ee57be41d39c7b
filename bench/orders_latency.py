"""Trigger-to-send latency of orders: localnet moves a pool across limit sells' triggers, then one monitor cycle
runs; the time from the cycle's start to each sale's first send (the trading service's "sending" step) is the
bot's own latency. In the running bot a crossing also waits for the next cycle: up to MONITOR_INTERVAL_SECONDS more.
Prints p50/p99; asserts nothing.

    .venv/bin/python -m bench.orders_latency [--rounds 20] [--orders 5] [--json PATH]

With ``--json`` the figures go to a file (``make proof``); the result is "measured" when every crossed order fired.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench._django import setup_django
from bench._figures import write_figures

SOL = 10**9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--orders", type=int, default=5, help="limit sells crossing in each round (one per trader)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start(tokens=False) as localnet:
        latencies, missed = asyncio.run(_run(localnet, args.rounds, args.orders))
    if args.json:
        p50, p99 = statistics.median(latencies) * 1000, _p99(latencies) * 1000
        write_figures(args.json, "orders_latency", full=args.rounds >= 20, rounds=args.rounds, orders=args.orders,
                      p50_ms=round(p50), p99_ms=round(p99), missed=missed,
                      result="measured" if not missed else f"FAILED: {missed} crossed orders did not fire",
                      summary=f"{len(latencies)} limit sells, {args.orders} crossing at once: cycle start to first "
                              f"send p50 {p50:.0f} ms, p99 {p99:.0f} ms (plus up to one monitor interval)")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _run(localnet, rounds: int, per_round: int) -> tuple[list[float], int]:
    from decimal import Decimal

    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from custody.services import get_or_create_user_wallet
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.amounts import SellAmount
    from positions.monitor import Monitor
    from positions.order_placing import TriggerKind, TriggerSpec, place_limit_sell
    from positions.orders import OrderEngine
    from positions.trading import Step, TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring

    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "MAX_POSITION_SIZE_SOL": "5"})
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    trading = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    sent: list[float] = []
    original = trading.execute_sell

    async def timed_sell(**kwargs):
        async def progress(step):
            if step is Step.SENDING:
                sent.append(time.perf_counter())
        return await original(**kwargs, progress=progress)

    trading.execute_sell = timed_sell
    monitor = Monitor(trading, orders=OrderEngine(trading))
    latencies: list[float] = []
    missed = 0
    for round_ in range(rounds):
        token = localnet.create_token(f"LAT{round_}", decimals=6, pool_sol_lamports=500 * SOL, pool_tokens_raw=10**12)
        for n in range(per_round):
            user_id = 50_000 + round_ * per_round + n
            wallet = (await sync_to_async(get_or_create_user_wallet)(user_id, f"l{user_id}", config=config)).wallet
            localnet.chain.airdrop(wallet.public_key, 2 * SOL)
            await trading.execute_buy(telegram_user_id=user_id, mint=token.mint, lamports=SOL // 10)
            await place_limit_sell(trading, telegram_user_id=user_id, mint=token.mint, amount=SellAmount.all(),
                                   trigger=TriggerSpec(TriggerKind.MULTIPLE, Decimal(2), "2x"), expires_in=None,
                                   now=timezone.now())
        localnet.swap_as(localnet.funded_keypair(sol=600), localnet.sol_mint, token.mint, 500 * SOL)  # ~4x
        sent.clear()
        started = time.perf_counter()
        report = await monitor.run_cycle()
        latencies += [moment - started for moment in sent]
        fired = sum(1 for e in report.order_events if e.status == "filled")
        if fired != per_round:
            print(f"round {round_ + 1}: {fired} of {per_round} fired")
            missed += per_round - fired
    latencies.sort()
    p99 = _p99(latencies)
    print(f"{len(latencies)} limit sells over {rounds} rounds ({per_round} crossing at once): cycle start to first "
          f"send p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    await rpc.close()
    await jupiter.close()
    return latencies, missed


if __name__ == "__main__":
    main()
