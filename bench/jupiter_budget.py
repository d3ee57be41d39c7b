"""Trades while the monitor watches 1,000 open mints, on Jupiter's free tier: refused for rate without the bot's
budget, and with it. Prints a table; asserts nothing.

    .venv/bin/python -m bench.jupiter_budget [--mints 1000] [--trades 40] [--rpm 60] [--window 6] [--json PATH]

localnet's swap API admits ``--rpm`` requests per sliding window and answers the rest 429 with Retry-After (the free
tier: 60 a minute; the minute is compressed to ``--window`` seconds so that a run takes seconds, and the bot's budget
uses the same window). The monitor runs its cycle every ``--window``/12 seconds (5 s in a real minute) over positions
on ``--mints`` mints: a price request per 50 mints, 20 for 1,000. Meanwhile 5 users make ``--trades`` buys (a quote
and a swap each) at random moments over three windows. Once without a budget (JUPITER_REQUESTS_PER_MINUTE=0: every
request goes when it comes) and once with the budget, in one run. Per case: trades done, trades refused for rate,
trade seconds p50/p99, monitor cycles run and put off, and the 429 answers the swap API gave, by endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from bench._django import setup_django
from bench._figures import percentile, write_figures

SOL = 10**9
USERS = 5
SYMBOLS = ("BONK", "WIF", "JUP", "NINE")
_user_ids = itertools.count(930_000)


@dataclass
class Case:
    budget: bool
    outcomes: Counter = field(default_factory=Counter)
    trade_seconds: list[float] = field(default_factory=list)
    cycles: int = 0
    cycles_deferred: int = 0
    rate_limited: Counter = field(default_factory=Counter)

    @property
    def name(self) -> str:
        return "with the budget" if self.budget else "no budget"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mints", type=int, default=1_000, help="open mints the monitor watches (default 1000)")
    parser.add_argument("--trades", type=int, default=40, help="buys per case (default 40)")
    parser.add_argument("--rpm", type=int, default=60, help="requests the swap API admits per window (default 60)")
    parser.add_argument("--window", type=float, default=6.0, help="the rate window in seconds (default 6: a minute "
                                                                    "ten times faster)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    setup_django()
    from localnet import Localnet

    with Localnet.start() as localnet:
        cases = asyncio.run(_run_all(localnet, args))
    _print(cases, args)
    if args.json:
        write_figures(args.json, "jupiter_budget", full=args.mints >= 1_000, mints=args.mints, trades=args.trades,
                      rpm=args.rpm, window_seconds=args.window, result=_verdict(cases),
                      summary=_summary(cases), runs=[_figures(case) for case in cases])


async def _run_all(localnet, args) -> list[Case]:
    await _watch_mints(localnet, args.mints)
    localnet.knobs.jupiter_rpm, localnet.knobs.jupiter_window_seconds = args.rpm, args.window
    cases = []
    for budget in (False, True):
        case = Case(budget)
        localnet.jupiter.rate_limited.clear()
        await _run(localnet, case, args)
        case.rate_limited = Counter(localnet.jupiter.rate_limited)
        cases.append(case)
        await asyncio.sleep(args.window)  # the next case starts with an empty window
    return cases


async def _watch_mints(localnet, mints: int) -> None:
    """Open positions on ``mints`` listed tokens, at their pools' price (nothing crosses: the monitor only watches)."""
    from asgiref.sync import sync_to_async

    from custody.services import get_or_create_user_wallet
    from kernel.config import load_config
    from positions.models import Position
    from tests.settings import TEST_WALLET_KEY
    from wallets.models import UserSettings

    tokens = [localnet.create_token(f"W{i}", decimals=6, pool_sol_lamports=100 * SOL, pool_tokens_raw=10**12)
              for i in range(mints)]
    config = load_config({"WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY})

    def fill() -> None:
        wallet = get_or_create_user_wallet(920_000, "watcher", config=config).wallet
        UserSettings.objects.filter(user=wallet).update(stop_loss_percentage=Decimal(90),
                                                        take_profit_percentage=Decimal(1000))
        Position.objects.bulk_create([Position(user=wallet, token_mint=t.mint, token_decimals=6,
                                               entry_amount_raw=10**6, remaining_amount_raw=10**6,
                                               entry_cost_lamports=100_000, remaining_cost_lamports=100_000)
                                      for t in tokens])

    await sync_to_async(fill)()


async def _run(localnet, case: Case, args) -> None:
    from kernel.chain.budget import RequestBudget
    from kernel.chain.jupiter import JupiterClient
    from kernel.chain.rpc import RpcGateway
    from kernel.config import load_config
    from positions.monitor import Monitor
    from positions.trading import TradingService
    from tests.settings import TEST_WALLET_KEY
    from wallets.crypto import Keyring

    config = load_config({"SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
                          "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000",
                          "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_SPEND_SOL": "1000"})
    budget = RequestBudget(args.rpm, window_seconds=args.window) if case.budget else None
    rpc = RpcGateway(config.solana_rpc_url)
    jupiter = JupiterClient(config.jupiter_api_url, budget=budget)
    engine = TradingService(rpc=rpc, jupiter=jupiter, keyring=Keyring(config.wallet_encryption_keys), config=config)
    users = [await _user(engine, localnet) for _ in range(USERS)]
    rng = random.Random(args.seed)
    span = 3 * args.window
    moments = sorted(rng.uniform(0, span) for _ in range(args.trades))
    done = asyncio.Event()

    async def watch() -> None:
        monitor = Monitor(engine)
        while not done.is_set():
            report = await monitor.run_cycle()
            case.cycles += 1
            case.cycles_deferred += bool(report.deferred)
            await asyncio.sleep(args.window / 12)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.sleep(args.window / 2)  # the monitor has the window to itself first, as it would all day
        started = time.monotonic()
        await asyncio.gather(*(_buy(engine, localnet, case, users[index % USERS], index, started + moment)
                               for index, moment in enumerate(moments)))
    finally:
        done.set()
        await watcher
        await rpc.close()
        await jupiter.close()


async def _user(engine, localnet):
    from asgiref.sync import sync_to_async

    from custody.services import get_or_create_user_wallet

    user_id = next(_user_ids)
    wallet = (await sync_to_async(get_or_create_user_wallet)(user_id, f"j{user_id}", config=engine.config)).wallet
    localnet.chain.airdrop(wallet.public_key, 20 * SOL)
    return user_id


async def _buy(engine, localnet, case: Case, user_id: int, index: int, at: float) -> None:
    from positions.errors import ServiceUnavailable, TradingError

    await asyncio.sleep(max(0.0, at - time.monotonic()))
    started = time.monotonic()
    try:
        await engine.execute_buy(telegram_user_id=user_id, mint=localnet.token(SYMBOLS[index % len(SYMBOLS)]).mint,
                                 lamports=SOL // 100 + index)
    except ServiceUnavailable as refused:
        status = getattr(refused.cause, "status", 0)
        case.outcomes["refused for rate" if status == 429 else "service unavailable"] += 1
        return
    except TradingError as refused:
        case.outcomes[type(refused).__name__] += 1
        return
    case.outcomes["done"] += 1
    case.trade_seconds.append(time.monotonic() - started)


def _verdict(cases: list[Case]) -> str:
    """The issue's goal: with the budget, no trade's request is refused for rate while the monitor runs."""
    budgeted = next(case for case in cases if case.budget)
    refused = budgeted.outcomes["refused for rate"]
    answers = budgeted.rate_limited["/swap/v1/quote"] + budgeted.rate_limited["/swap/v1/swap"]
    if refused or answers:
        return f"FAIL: with the budget, {refused} trades refused for rate, {answers} trade requests answered 429"
    return "PASS"


def _summary(cases: list[Case]) -> str:
    return "; ".join(f"{case.name}: {case.outcomes['done']} done, {case.outcomes['refused for rate']} refused for "
                     f"rate, {case.cycles} monitor cycles ({case.cycles_deferred} put off), "
                     f"{sum(case.rate_limited.values())} answers 429" for case in cases)


def _figures(case: Case) -> dict:
    return {"budget": case.budget, "outcomes": dict(case.outcomes),
            "trade_seconds_p50": round(percentile(case.trade_seconds, 50), 2) if case.trade_seconds else None,
            "trade_seconds_p99": round(percentile(case.trade_seconds, 99), 2) if case.trade_seconds else None,
            "monitor_cycles": case.cycles, "monitor_cycles_deferred": case.cycles_deferred,
            "rate_limited": dict(case.rate_limited)}


def _print(cases: list[Case], args) -> None:
    print(f"{args.trades} buys by {USERS} users over {3 * args.window:g} s while the monitor watches {args.mints} "
          f"mints every {args.window / 12:g} s; the swap API admits {args.rpm} requests per {args.window:g} s")
    print(f"{'case':<16} {'done':>5} {'refused for rate':>16} {'other':>6} {'trade s p50/p99':>16} "
          f"{'cycles (put off)':>17} {'429 answers (quote/swap/price)':>31}")
    for case in cases:
        other = sum(count for key, count in case.outcomes.items() if key not in ("done", "refused for rate"))
        seconds = (f"{percentile(case.trade_seconds, 50):.2f}/{percentile(case.trade_seconds, 99):.2f}"
                   if case.trade_seconds else "-")
        limited = "/".join(str(case.rate_limited[path]) for path in ("/swap/v1/quote", "/swap/v1/swap", "/price/v3"))
        print(f"{case.name:<16} {case.outcomes['done']:>5} {case.outcomes['refused for rate']:>16} {other:>6} "
              f"{seconds:>16} {f'{case.cycles} ({case.cycles_deferred})':>17} {limited:>31}")
    print(f"verdict: {_verdict(cases)}")


if __name__ == "__main__":
    main()
