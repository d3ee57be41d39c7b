"""Reply time of /positions through the real bot (polling the Bot API stand-in) for a user with N open positions.
Prints figures; asserts nothing.

    .venv/bin/python -m bench.positions_reply [--positions 20] [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench._django import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start(seed=True) as localnet:
        asyncio.run(_run(localnet, args.positions, args.requests))


async def _run(localnet, positions: int, requests: int) -> None:
    from telegrambot.runner import BotRunner
    from tests.settings import TEST_WALLET_KEY
    from tradingbot.config import load_config
    from wallets.models import UserWallet

    telegram = localnet.telegram
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000"})
    runner = BotRunner(config)
    runner.deps.throttle_limit = 10_000
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_polling(stop))
    user = 4242
    await telegram.send_text(user, "/start")
    await telegram.next_reply(user, timeout=30)
    wallet = await UserWallet.objects.aget(telegram_user_id=user)
    localnet.chain.airdrop(wallet.public_key, 100 * 10**9)
    for index in range(positions):
        token = localnet.create_token(f"T{index}", decimals=6, pool_sol_lamports=100 * 10**9,
                                      pool_tokens_raw=10**15)
        await runner.deps.trading.execute_buy(telegram_user_id=user, mint=token.mint, lamports=10**7)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        await telegram.send_text(user, "/positions")
        reply = await telegram.next_reply(user, timeout=30)
        timings.append((time.perf_counter() - started) * 1000)
    assert reply["text"].count("PnL:") == positions, reply["text"][:300]
    stop.set()
    await task
    price_requests = localnet.jupiter.requests["/price/v3"]
    print(f"/positions with {positions} open positions: median {statistics.median(timings):.1f} ms, "
          f"p90 {sorted(timings)[int(len(timings) * 0.9) - 1]:.1f} ms over {requests} requests "
          f"({price_requests} price requests in all: one per /positions)")


if __name__ == "__main__":
    main()
