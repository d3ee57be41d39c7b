"""One stop-loss/take-profit monitor cycle over many open positions, priced through localnet's price API.
Prints wall time, price requests and database queries; asserts nothing.

    .venv/bin/python -m bench.monitor_cycle [--positions 10000] [--mints 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

from bench._django import count_queries, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--mints", type=int, default=1_000)
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start(tokens=False) as localnet:
        asyncio.run(_run(localnet, args.positions, args.mints))


async def _run(localnet, positions: int, mints: int) -> None:
    from asgiref.sync import sync_to_async

    from custody.services import get_or_create_user_wallet
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.models import Position
    from positions.monitor import Monitor
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring
    from wallets.models import UserSettings

    tokens = [localnet.create_token(f"B{i}", decimals=6, pool_sol_lamports=100 * 10**9, pool_tokens_raw=10**12)
              for i in range(mints)]
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY})
    users = max(positions // mints, 1)

    def fill() -> None:
        for user in range(users):
            wallet = get_or_create_user_wallet(10_000 + user, f"b{user}", config=config).wallet
            UserSettings.objects.filter(user=wallet).update(stop_loss_percentage=Decimal(90),
                                                            take_profit_percentage=Decimal(1000))
            # Ledger rows at the pools' current price: nothing crosses, so the cycle measures watching alone.
            Position.objects.bulk_create([Position(user=wallet, token_mint=t.mint, token_decimals=6,
                                                   entry_amount_raw=10**6, remaining_amount_raw=10**6,
                                                   entry_cost_lamports=100_000, remaining_cost_lamports=100_000)
                                          for t in tokens[: positions // users]])

    await sync_to_async(fill)()
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    monitor = Monitor(TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys),
                                     config=config))
    queries: list[str] = []

    await monitor.run_cycle()  # warm: connections, caches
    for run in range(3):
        queries.clear()
        before = localnet.jupiter.requests["/price/v3"]
        await count_queries(queries, True)
        started = time.perf_counter()
        report = await monitor.run_cycle()
        elapsed = (time.perf_counter() - started) * 1000
        await count_queries(queries, False)
        print(f"cycle {run + 1}: {report.positions} positions on {report.mints} mints in {elapsed:.0f} ms; "
              f"price requests {localnet.jupiter.requests['/price/v3'] - before} "
              f"(batches of 50: {-(-report.mints // 50)}); database queries {len(queries)}; "
              f"sells {len(report.triggers)}")
    from positions.monitor import _watched_positions

    started = time.perf_counter()
    watched = await _watched_positions()
    read_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    await jupiter.sol_prices(sorted({w.mint for w in watched}))
    price_ms = (time.perf_counter() - started) * 1000
    print(f"  of which: reading positions {read_ms:.0f} ms, pricing {price_ms:.0f} ms (localnet's price API)")
    await rpc.close()
    await jupiter.close()


if __name__ == "__main__":
    main()
