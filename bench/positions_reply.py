"""Reply time and cost of /positions through the real bot (polling the Bot API stand-in) as one user's open
positions grow. Prints figures; asserts only that every position is listed.

    .venv/bin/python -m bench.positions_reply [--positions 10 100 1000] [--requests 20] [--postgres] [--json PATH]

Every position is a real buy (0.01 SOL) of its own token, created on localnet with a funded pool, made through the
trading engine the bot uses, a few at a time: the chain holds what the ledger says. For each size, after one
warm-up request: latency from /positions handed to the stand-in to the stand-in storing the reply, SQL queries
(captured on the bot's database thread), price and RPC requests (localnet's request log). The monitor and
reconciliation jobs are removed so that the counts are /positions' own, and the per-user throttle is raised
in-process as the e2e tests do, so that requests can follow one another at once.

The stand-in does not enforce Telegram's limit of 4096 characters of message text (counted after entity parsing,
in UTF-16 code units): the reply's size is reported against it, with how many positions would fit.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import ExitStack

from bench._django import setup_django
from bench._figures import percentile, write_figures
from bench._postgres import scratch_database
from bench._replies import Stamped, StampedReplies
from localnet import Localnet

SOL = 10**9
USER = 4242
BUY_LAMPORTS = 10**7
SEED_CONCURRENCY = 8
TELEGRAM_TEXT_LIMIT = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--requests", type=int, default=20, help="timed /positions requests per size")
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here (e.g. "
                                                       "test-artifacts/proof/positions_scaling.json)")
    args = parser.parse_args()
    sizes = sorted(set(args.positions))
    started = time.perf_counter()
    with ExitStack() as stack:
        setup_django(stack.enter_context(scratch_database("bench_positions")) if args.postgres else None)
        localnet = stack.enter_context(Localnet.start(tokens=False))
        rows = asyncio.run(_run(localnet, sizes, args.requests))
    seconds = round(time.perf_counter() - started, 1)
    database = "PostgreSQL" if args.postgres else "SQLite"
    _print_table(rows, database, seconds)
    if args.json:
        too_long = [row["positions"] for row in rows if not row["fits_telegram"]]
        write_figures(args.json, "positions_scaling", full=1000 in sizes, cases=len(rows),
                      database="postgresql" if args.postgres else "sqlite",
                      requests_per_size=args.requests, run_seconds=seconds,
                      result=f"FAILED: reply over Telegram's {TELEGRAM_TEXT_LIMIT} characters at {too_long} positions"
                             if too_long else "every reply fits Telegram (paged, 10 a page)",
                      summary="; ".join(f"{r['positions']} positions: p50 {r['latency_ms_p50']} ms, "
                                        f"{r['sql_queries']} SQL, {r['price_requests']} price requests, "
                                        f"{r['text_chars']} chars" for r in rows),
                      **{f"positions_{row['positions']}": row for row in rows})


async def _run(localnet, sizes: list[int], requests: int) -> list[dict]:
    from kernel.config import load_config
    from telegrambot.runner import BotRunner
    from tests.settings import TEST_WALLET_KEY
    from wallets.models import UserWallet

    telegram = localnet.telegram
    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "SOLANA_WS_URL": localnet.ws_url,
                          "JUPITER_API_URL": localnet.jupiter_url, "TELEGRAM_BOT_TOKEN": telegram.token,
                          "TELEGRAM_API_BASE_URL": telegram.url, "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY,
                          "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000",
                          "MAX_DAILY_SPEND_SOL": "1000"})  # seeding buys a position per mint within minutes
    runner = BotRunner(config)
    runner.deps.throttle_limit = 10_000
    replies = StampedReplies(telegram, [USER])
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_polling(stop))
    try:
        await telegram.send_text(USER, "/start")
        await replies.final(USER, timeout=30)
        for name in ("monitor", "reconcile"):
            for job in runner.application.job_queue.get_jobs_by_name(name):
                job.schedule_removal()
        wallet = await UserWallet.objects.aget(telegram_user_id=USER)
        localnet.chain.airdrop(wallet.public_key, (max(sizes) // 50 + 10) * SOL)  # 0.01 + rent + fees a buy
        rows, held = [], 0
        for size in sizes:
            seeding = time.perf_counter()
            await _open_positions(localnet, runner.deps.trading, range(held, size))
            held = size
            row = await _measure(localnet, replies, size, requests)
            rows.append({**row, "seed_seconds": round(time.perf_counter() - seeding - row["measure_seconds"], 1)})
    finally:
        stop.set()
        await task
    return rows


async def _open_positions(localnet, trading, indexes: range) -> None:
    tokens = [localnet.create_token(f"P{index}", decimals=6, pool_sol_lamports=100 * SOL, pool_tokens_raw=10**15)
              for index in indexes]
    slots = asyncio.Semaphore(SEED_CONCURRENCY)

    async def buy(mint: str) -> None:
        async with slots:
            await trading.execute_buy(telegram_user_id=USER, mint=mint, lamports=BUY_LAMPORTS)

    await asyncio.gather(*(buy(token.mint) for token in tokens))


async def _measure(localnet, replies: StampedReplies, size: int, requests: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kernel.db import db_call

    started_all = time.perf_counter()
    await _positions(localnet.telegram, replies)  # warm-up: connections, caches
    latencies, queries, prices, rpcs = [], [], [], []
    for _ in range(requests):
        # Entered, left and read on the bot's database thread: ``connection`` is a different one in each thread.
        capture = CaptureQueriesContext(connection)
        await db_call(capture.__enter__)()
        since, started = time.time(), time.perf_counter()
        reply = await _positions(localnet.telegram, replies)
        latencies.append((reply.at - started) * 1000)
        await db_call(capture.__exit__)(None, None, None)
        queries.append(len(await db_call(lambda capture=capture: capture.captured_queries)()))
        prices.append(sum(1 for at, name in localnet.jupiter.log[:] if at >= since and name == "/price/v3"))
        rpcs.append(sum(1 for at, _ in localnet.rpc.log[:] if at >= since))
    from telegrambot.handlers.portfolio import PAGE_SIZE

    listed = reply.text.count("PnL:")
    assert listed == min(size, PAGE_SIZE), f"{listed} positions listed of {size}: {reply.text[:300]}"
    chars = _telegram_length(reply.text)
    buttons = sum(len(row) for row in (reply.reply_markup or {}).get("inline_keyboard", []))
    return {"positions": size, "requests": requests, "latency_ms_p50": round(percentile(latencies, 50), 1),
            "latency_ms_p90": round(percentile(latencies, 90), 1), "sql_queries": max(queries),
            "sql_queries_min": min(queries), "price_requests": max(prices), "rpc_requests": max(rpcs),
            "text_chars": chars, "inline_buttons": buttons, "fits_telegram": chars <= TELEGRAM_TEXT_LIMIT,
            "listed_on_first_page": listed, "pages": -(-size // PAGE_SIZE),
            "measure_seconds": round(time.perf_counter() - started_all, 1)}


async def _positions(telegram, replies: StampedReplies) -> Stamped:
    await telegram.send_text(USER, "/positions")
    return await replies.final(USER, timeout=60)


def _telegram_length(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _print_table(rows: list[dict], database: str, seconds: float) -> None:
    print(f"/positions, one user, {database}, {rows[0]['requests']} timed requests a size; run {seconds} s")
    print("| positions | p50 ms | p90 ms | SQL queries | price requests | RPC requests | text chars (limit 4096) "
          "| inline buttons | pages | seeding s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        queries = str(row["sql_queries"]) if row["sql_queries"] == row["sql_queries_min"] else \
            f"{row['sql_queries_min']}-{row['sql_queries']}"
        print(f"| {row['positions']} | {row['latency_ms_p50']} | {row['latency_ms_p90']} | {queries} | "
              f"{row['price_requests']} | {row['rpc_requests']} | {row['text_chars']} | {row['inline_buttons']} | "
              f"{row['pages']} | {row['seed_seconds']} |")
    print("Each reply shows one page of positions (every position is priced, to total the portfolio).")


if __name__ == "__main__":
    main()
