"""One monitor cycle over many active orders (limit buys, limit sells, trailing stops) on many mints, priced through
localnet's price API. Prints the cycle's wall time and the part of it that is the bot's own work (reading the
orders, arithmetic, writes: the cycle minus the price API's answers), price requests and database queries, for
several order counts; asserts nothing.

    .venv/bin/python -m bench.orders_cycle [--orders 1000,10000,100000] [--mints 5000] [--json PATH]

With ``--json`` the figures go to a file and are judged by issue 17's goals (``make proof``): at the largest count,
the bot's own work under a second and at most one price request per 50 mints; the same number of SQL queries at
every count.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench._django import count_queries, setup_django
from bench._figures import write_figures

USERS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="1000,10000,100000")
    parser.add_argument("--mints", type=int, default=5_000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    counts = [int(n) for n in args.orders.split(",")]
    with Localnet.start(tokens=False) as localnet:
        cycles = asyncio.run(_run(localnet, counts, args.mints))
    if args.json:
        verdict = _verdict(cycles, args.mints)
        print(f"verdict: {verdict}")
        write_figures(args.json, "orders_cycle", full=max(counts) >= 100_000 and args.mints >= 5_000,
                      mints=args.mints, result=verdict, cycles=cycles, summary="; ".join(
                          f"{c['orders']} orders on {c['mints']} mints: own work {c['own_ms']} ms of "
                          f"{c['cycle_ms']} ms, {c['price_requests']} price requests, {c['queries']} SQL queries"
                          for c in cycles))


def _verdict(cycles: list[dict], mints: int) -> str:
    """The steady cycle (the second) at each count: own work < 1 s at the largest, <= one request per 50 mints,
    and a constant number of queries."""
    steady = [c for c in cycles if c["run"] == 2]
    largest = max(steady, key=lambda c: c["orders"])
    misses = []
    if largest["own_ms"] >= 1000:
        misses.append(f"own work {largest['own_ms']} ms at {largest['orders']} orders")
    if largest["price_requests"] > -(-mints // 50):
        misses.append(f"{largest['price_requests']} price requests for {mints} mints")
    if len({c["queries"] for c in steady}) > 1:
        misses.append("SQL queries grow with the orders: " + ", ".join(f"{c['queries']}" for c in steady))
    return "PASS" if not misses else "FAIL: " + "; ".join(misses)


async def _run(localnet, counts: list[int], mints: int) -> list[dict]:
    from asgiref.sync import sync_to_async

    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.monitor import Monitor
    from positions.orders import OrderEngine
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring

    started = time.perf_counter()
    tokens = [localnet.create_token(f"O{i}", decimals=6, pool_sol_lamports=100 * 10**9, pool_tokens_raw=10**12)
              for i in range(mints)]
    print(f"localnet: {mints} tokens with pools created in {time.perf_counter() - started:.1f} s")
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY})
    started = time.perf_counter()
    wallets = await sync_to_async(_users)(config)
    print(f"{len(wallets)} users created in {time.perf_counter() - started:.1f} s")
    rpc, jupiter = RpcGateway(config.solana_rpc_url), JupiterClient(config.jupiter_api_url)
    trading = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    monitor = Monitor(trading, orders=OrderEngine(trading))
    queries: list[str] = []
    pricing: list[float] = []
    original = jupiter.sol_prices

    async def timed_prices(*args, **kwargs):
        began = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            pricing.append(time.perf_counter() - began)

    jupiter.sol_prices = timed_prices
    cycles: list[dict] = []
    created = 0
    for count in counts:
        started = time.perf_counter()
        await sync_to_async(_fill)(wallets, tokens, created, count - created)
        print(f"{count - created} orders bulk-created in {time.perf_counter() - started:.1f} s")
        created = count
        await monitor.run_cycle()  # warm: connections, caches
        for run in range(2):
            queries.clear()
            pricing.clear()
            before = localnet.jupiter.requests["/price/v3"]
            await count_queries(queries, True)
            began = time.perf_counter()
            report = await monitor.run_cycle()
            elapsed = time.perf_counter() - began
            await count_queries(queries, False)
            own = elapsed - sum(pricing)
            print(f"{report.orders:>7} orders on {report.mints} mints, cycle {run + 1}: {elapsed * 1000:.0f} ms, of "
                  f"which the bot's own work {own * 1000:.0f} ms and the price API {sum(pricing) * 1000:.0f} ms; "
                  f"price requests {localnet.jupiter.requests['/price/v3'] - before}; database queries "
                  f"{len(queries)}; fired {len(report.order_events)}")
            cycles.append({"orders": report.orders, "mints": report.mints, "run": run + 1,
                           "cycle_ms": round(elapsed * 1000), "own_ms": round(own * 1000),
                           "price_requests": localnet.jupiter.requests["/price/v3"] - before,
                           "queries": len(queries)})
    await _peaks_cycle(monitor, queries, localnet)
    await rpc.close()
    await jupiter.close()
    return cycles


async def _peaks_cycle(monitor, queries: list[str], localnet) -> None:
    """Every trailing stop's peak set just below the price: one cycle raises (and writes) all of them."""
    from asgiref.sync import sync_to_async
    from django.db.models import F

    from positions.models import Order

    trailing = await sync_to_async(Order.objects.filter(kind="trailing_stop", status="active").update)(
        peak_num=1, peak_den=10**9, version=F("version") + 1)  # as every writer does: the cycle re-reads them
    await count_queries(queries, True)
    queries.clear()
    began = time.perf_counter()
    report = await monitor.run_cycle()
    elapsed = time.perf_counter() - began
    await count_queries(queries, False)
    print(f"a cycle re-reading {trailing} changed trailing stops and raising their peaks: {elapsed * 1000:.0f} ms, "
          f"database queries {len(queries)} (the changed rows in one read, the new peaks in one executemany); "
          f"fired {len(report.order_events)}")
    queries.clear()
    await count_queries(queries, True)
    began = time.perf_counter()
    await monitor.run_cycle()
    elapsed = time.perf_counter() - began
    await count_queries(queries, False)
    print(f"the next cycle (the engine's own writes already known): {elapsed * 1000:.0f} ms, database queries "
          f"{len(queries)}")


def _users(config) -> list:
    from custody.services import get_or_create_user_wallet

    return [get_or_create_user_wallet(20_000 + user, f"o{user}", config=config).wallet for user in range(USERS)]


def _fill(wallets: list, tokens: list, first: int, count: int) -> None:
    """Orders far from their triggers (nothing fires: the cycle measures watching alone), a third of each kind."""
    from decimal import Decimal

    from positions.models import Order

    rows = []
    for n in range(first, first + count):
        token, wallet = tokens[n % len(tokens)], wallets[n % len(wallets)]
        kind = ("limit_buy", "limit_sell", "trailing_stop")[n % 3]
        # The pools price a token at 0.0001 SOL: 1/10 lamport per raw unit.
        fields = {"limit_buy": {"trigger_num": 1, "trigger_den": 1000, "lamports": 10**8},
                  "limit_sell": {"trigger_num": 1000, "trigger_den": 1, "sell_amount": "all"},
                  "trailing_stop": {"trail_percent": Decimal(90), "peak_num": 2, "peak_den": 10,
                                    "sell_amount": "all"}}[kind]
        rows.append(Order(user=wallet, token_mint=token.mint, token_decimals=6, kind=kind, **fields))
    Order.objects.bulk_create(rows, batch_size=5_000)


if __name__ == "__main__":
    main()
