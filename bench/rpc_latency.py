"""Median request latency of localnet's RPC server, through solana-py's real AsyncClient. Prints figures.

    .venv/bin/python -m bench.rpc_latency [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from solana.rpc.async_api import AsyncClient

from localnet import Localnet


async def _measure(localnet: Localnet, count: int) -> dict[str, list[float]]:
    owner = localnet.funded_keypair(sol=1).pubkey()
    timings: dict[str, list[float]] = {"getBalance": [], "getLatestBlockhash": [], "getAccountInfo": []}
    async with AsyncClient(localnet.rpc_url) as client:
        await client.get_balance(owner)  # open the connection
        calls = {"getBalance": lambda: client.get_balance(owner),
                 "getLatestBlockhash": client.get_latest_blockhash,
                 "getAccountInfo": lambda: client.get_account_info(owner)}
        for name, call in calls.items():
            for _ in range(count):
                started = time.perf_counter()
                await call()
                timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with Localnet.start() as localnet:
        timings = asyncio.run(_measure(localnet, args.requests))
    for name, values in timings.items():
        p99 = sorted(values)[int(len(values) * 0.99) - 1]
        print(f"{name:20} median {statistics.median(values):6.3f} ms  p99 {p99:6.3f} ms  "
              f"({len(values)} sequential requests)")


if __name__ == "__main__":
    main()
