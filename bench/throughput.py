"""Throughput of the real bot process (``manage.py runbot``, polling) with N simulated users trading at once
against localnet and PostgreSQL. Prints a table; asserts nothing.

    .venv/bin/python -m bench.throughput [--users 100 500] [--trades-per-user 2] [--json PATH]

Each user sends /start, is airdropped 1 SOL on localnet, then alternates ``/buy <mint> 0.01`` and
``/sell <mint> 50%`` over the seeded tokens, each command after the final reply to the previous one (the bot runs
one trade per user at a time). Latency is from the command handed to the Bot API stand-in to the stand-in storing
the bot's final message for it (the first that is not a "⏳" progress edit). Users stay under the bot's throttle
(10 updates per 10 s per user, which no setting changes), so this is unmodified production code and settings, with
the monitor and reconciliation jobs running as they do in production.

The bot's CPU time (user + system, all threads) and peak RSS (VmHWM) come from /proc. localnet and this driver
share one process; on a small machine they compete with the bot and PostgreSQL for CPU, so their CPU time is shown.
Requests per trade are all the bot made during the run (/start and the background jobs included) over the trades.
Every message the bot sends or edits passes python-telegram-bot's AIORateLimiter (30 a second, Telegram's flood
limit): the Telegram sends/edits per second figure shows when that, not the bot's CPU, sets the pace.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from bench._figures import percentile, write_figures
from bench._postgres import scratch_database
from bench._replies import StampedReplies
from localnet import Localnet
from localnet.chain import BLOCKHASH_VALIDITY

BASE = Path(__file__).resolve().parent.parent
SOL = 10**9
TOKENS = ("BONK", "WIF", "JUP", "NINE", "WHOLE")
PACE = (9, 10.5)  # at most 9 commands in any 10.5 s per user: under the bot's 10 per 10 s, with a margin
COMMAND_TIMEOUT = 180.0
BOT_MESSAGES = ("sendMessage", "editMessageText")  # what python-telegram-bot's AIORateLimiter counts against 30/s
ADDRESS = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")


TELEGRAM_MESSAGES_PER_SECOND = 30  # Telegram's bulk limit, which AIORateLimiter enforces by default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--trades-per-user", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="also write the figures here (e.g. "
                                                       "test-artifacts/proof/throughput.json)")
    args = parser.parse_args()
    cases = [_run_case(users, args.trades_per_user) for users in args.users]
    _print_table(cases)
    if args.json:
        failed = sum(case["trades_failed"] + case["starts_failed"] for case in cases)
        write_figures(args.json, "throughput", full=500 in args.users, cases=len(cases), database="postgresql",
                      result="ok" if failed == 0 else f"FAILED: {failed} commands failed",
                      summary="; ".join(f"{c['users']} users: {c['trades_per_second']} trades/s, p50 "
                                        f"{c['trade_latency_ms_p50']} ms, p99 {c['trade_latency_ms_p99']} ms, "
                                        f"bot CPU {c['bot_cpu_seconds']} s ({c['bot_cpu_percent_of_one_core']}% of "
                                        f"a core), peak RSS {c['bot_peak_rss_mib']} MiB, "
                                        f"{c['telegram_messages_per_second']} Telegram messages/s "
                                        f"({c['telegram_messages_per_trade']} a trade)" for c in cases)
                      + _bound(cases),
                      **{f"users_{case['users']}": case for case in cases})


def _bound(cases: list[dict]) -> str:
    """Say what limits throughput when the figures show it: Telegram's global send limit (python-telegram-bot's
    AIORateLimiter keeps the bot under 30 messages a second), with the bot's CPU far from busy."""
    if all(c["telegram_messages_per_second"] >= TELEGRAM_MESSAGES_PER_SECOND * 0.9
           and c["bot_cpu_percent_of_one_core"] < 50 for c in cases):
        return f"; bound by Telegram's {TELEGRAM_MESSAGES_PER_SECOND} messages/s, not by the bot's CPU"
    return ""


def _run_case(users: int, trades_per_user: int) -> dict:
    started = time.perf_counter()
    with Localnet.start() as localnet, scratch_database(f"bench_throughput_{users}") as database_url:
        env = _bot_environment(localnet, database_url)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE, env=env, check=True)
        with tempfile.TemporaryFile("w+") as log:
            bot = BotProcess(env, log)
            try:
                bot.wait_until_polling(localnet.telegram)
                idle_rss, _ = bot.memory_mib()
                cpu_before, bench_cpu_before = bot.cpu_seconds(), time.process_time()
                figures = asyncio.run(Driver(localnet, users, trades_per_user).run())
                figures.update(bot_cpu_seconds=round(bot.cpu_seconds() - cpu_before, 1),
                               bench_cpu_seconds=round(time.process_time() - bench_cpu_before, 1),
                               bot_idle_rss_mib=idle_rss, bot_peak_rss_mib=bot.memory_mib()[1])
            finally:
                stopping = time.perf_counter()
                exit_code = bot.stop()
            figures.update(bot_exit_code=exit_code, bot_stop_seconds=round(time.perf_counter() - stopping, 1),
                           bot_log_problems=_log_problems(log))
    figures["bot_cpu_percent_of_one_core"] = round(100 * figures["bot_cpu_seconds"] / figures["wall_seconds"])
    # Includes the idle work (polling, monitor and reconciliation jobs) over the run, /start and the trades.
    figures["bot_cpu_ms_per_trade"] = round(1000 * figures["bot_cpu_seconds"] / max(figures["trades"], 1), 1)
    figures["case_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _bot_environment(localnet: Localnet, database_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADINGBOT_ENV_FILE": os.devnull, "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url, "WALLET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SECRET_KEY": "bench-throughput", "TELEGRAM_BOT_TOKEN": localnet.telegram.token,
        "TELEGRAM_API_BASE_URL": localnet.telegram.url, "SOLANA_RPC_URL": localnet.rpc_url,
        "SOLANA_WS_URL": localnet.ws_url, "JUPITER_API_URL": localnet.jupiter_url,
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "BOT_METRICS_PORT": "0",
    }


class BotProcess:
    """``manage.py runbot`` as operators run it, with its CPU time and memory read from /proc."""

    def __init__(self, env: dict[str, str], log) -> None:
        self.process = subprocess.Popen([sys.executable, "manage.py", "runbot"], cwd=BASE, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
        self._proc = Path(f"/proc/{self.process.pid}")

    def wait_until_polling(self, telegram, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(method == "getUpdates" for method, _ in telegram.calls):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"runbot did not start polling (exit code {self.process.poll()})")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        # Fields after the parenthesised command name: utime and stime are the 12th and 13th (proc(5)).
        fields = (self._proc / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mib(self) -> tuple[int, int]:
        """(resident now, peak resident) in MiB."""
        status = dict(line.split(":", 1) for line in (self._proc / "status").read_text().splitlines())
        return tuple(round(int(status[key].split()[0]) / 1024) for key in ("VmRSS", "VmHWM"))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@dataclass(frozen=True)
class Reply:
    kind: str  # start, buy or sell
    sent_at: float
    replied_at: float | None  # None: no final reply within COMMAND_TIMEOUT
    text: str

    @property
    def ok(self) -> bool:
        if self.replied_at is None:
            return False
        return "Welcome" in self.text if self.kind == "start" else self.text.startswith("✅")

    @property
    def latency_ms(self) -> float:
        return (self.replied_at - self.sent_at) * 1000


class Driver:
    """The users, each one an asyncio task typing into the Bot API stand-in."""

    def __init__(self, localnet: Localnet, users: int, trades_per_user: int) -> None:
        self.localnet = localnet
        self.telegram = localnet.telegram
        self.user_ids = [900_000 + index for index in range(users)]
        self.trades_per_user = trades_per_user
        self.replies: list[Reply] = []
        self._replies: StampedReplies | None = None

    async def run(self) -> dict:
        self._replies = StampedReplies(self.telegram, self.user_ids)
        rpc_before = sum(self.localnet.rpc.requests.values())
        venue_before = sum(self.localnet.jupiter.requests.values())
        messages_before = _bot_messages(self.telegram)
        landed_before = set(self.localnet.chain.history)
        started, started_epoch = time.perf_counter(), time.time()
        await asyncio.gather(*(self._user(index, user_id) for index, user_id in enumerate(self.user_ids)))
        wall = time.perf_counter() - started
        trades = [r for r in self.replies if r.kind != "start"]
        done = [r for r in trades if r.ok]
        window = max((r.replied_at for r in done), default=started) - min((r.sent_at for r in trades), default=started)
        starts = [r for r in self.replies if r.kind == "start"]
        messages = _bot_messages(self.telegram) - messages_before
        trading_from = started_epoch + min((r.sent_at for r in trades), default=started) - started
        trading_messages = sum(1 for at, name in self.telegram.log[:] if at >= trading_from and name in BOT_MESSAGES
                               and at <= trading_from + window)
        figures = {"users": len(self.user_ids), "trades_per_user": self.trades_per_user, "trades": len(trades),
                   "trades_ok": len(done), "trades_failed": len(trades) - len(done),
                   "starts_failed": sum(not r.ok for r in starts) + len(self.user_ids) - len(starts),
                   "failures": dict(collections.Counter(_reason(r) for r in self.replies if not r.ok)),
                   "wall_seconds": round(wall, 1), "trading_seconds": round(window, 1),
                   "trades_per_second": round(len(done) / window, 1) if window > 0 else 0.0,
                   "rpc_requests_per_trade": round((sum(self.localnet.rpc.requests.values()) - rpc_before)
                                                   / max(len(trades), 1), 1),
                   "venue_requests_per_trade": round((sum(self.localnet.jupiter.requests.values()) - venue_before)
                                                     / max(len(trades), 1), 1),
                   "telegram_messages_per_trade": round((messages - len(starts)) / max(len(trades), 1), 1),
                   "telegram_messages_per_second": round(trading_messages / window, 1) if window > 0 else 0.0}
        ages = _blockhash_ages(self.localnet.chain, landed_before)
        figures["blockhash_age_blocks_p50"], figures["blockhash_age_blocks_max"] = \
            round(percentile(ages, 50)), max(ages, default=0)
        for name, group in (("trade", done), ("buy", [r for r in done if r.kind == "buy"]),
                            ("sell", [r for r in done if r.kind == "sell"]), ("start", [r for r in starts if r.ok])):
            latencies = [r.latency_ms for r in group]
            figures[f"{name}_latency_ms_p50"] = round(percentile(latencies, 50))
            figures[f"{name}_latency_ms_p99"] = round(percentile(latencies, 99))
        return figures

    async def _user(self, index: int, user_id: int) -> None:
        sent: collections.deque[float] = collections.deque()
        welcome = await self._command(user_id, "/start", "start", sent)
        address = ADDRESS.search(welcome.text) if welcome.ok else None
        if address is None:
            return
        self.localnet.chain.airdrop(address.group(0), SOL)
        for step in range(self.trades_per_user):
            mint = self.localnet.token(TOKENS[(index + step // 2) % len(TOKENS)]).mint
            buying = step % 2 == 0
            command = f"/buy {mint} 0.01" if buying else f"/sell {mint} 50%"
            reply = await self._command(user_id, command, "buy" if buying else "sell", sent)
            if reply.replied_at is None:
                return  # a late reply would be taken for the next command's: this user stops here

    async def _command(self, user_id: int, text: str, kind: str, sent: collections.deque[float]) -> Reply:
        await _stay_under_throttle(sent)
        started = time.perf_counter()
        sent.append(time.monotonic())
        self.telegram.send_text_sync(user_id, text)
        try:
            final = await self._replies.final(user_id, timeout=COMMAND_TIMEOUT)
        except TimeoutError:
            reply = Reply(kind, started, None, "")
        else:
            reply = Reply(kind, started, final.at, final.text)
        self.replies.append(reply)
        return reply


def _bot_messages(telegram) -> int:
    return sum(telegram.requests[name] for name in BOT_MESSAGES)


def _blockhash_ages(chain, landed_before: set[str]) -> list[int]:
    """Blocks between the swap API building each transaction (on the latest blockhash) and the transaction landing.

    Past BLOCKHASH_VALIDITY (150) it would have expired. localnet makes one block per landed transaction, so this
    counts the other trades that landed while the bot held a built transaction unsent."""
    last_valid = dict(chain._blockhashes)  # blockhash -> last valid block height; read only
    return [landed.block_height - (last_valid[str(landed.transaction.message.recent_blockhash)] - BLOCKHASH_VALIDITY)
            for signature, landed in list(chain.history.items()) if signature not in landed_before]


async def _stay_under_throttle(sent: collections.deque[float]) -> None:
    limit, window = PACE
    while sent and time.monotonic() - sent[0] > window:
        sent.popleft()
    if len(sent) >= limit:
        await asyncio.sleep(sent[0] + window - time.monotonic())
        sent.popleft()


def _reason(reply: Reply) -> str:
    if reply.replied_at is None:
        return f"{reply.kind}: no final reply within {COMMAND_TIMEOUT:.0f} s"
    return f"{reply.kind}: {reply.text.splitlines()[0][:100]}"


def _log_problems(log) -> dict[str, int]:
    """WARNING and ERROR lines of the bot's log, counted by message (timestamps and numbers stripped)."""
    log.seek(0)
    problems: collections.Counter[str] = collections.Counter()
    for line in log:
        match = re.search(r" (WARNING|ERROR|CRITICAL) (.*)", line)
        if match:
            problems[re.sub(r"\d+(\.\d+)?", "N", f"{match.group(1)} {match.group(2)}")[:140]] += 1
        elif line.startswith("Traceback"):
            problems["Traceback"] += 1
    return dict(problems.most_common(10))


def _print_table(cases: list[dict]) -> None:
    columns = [("users", "users"), ("trades ok/all", lambda c: f"{c['trades_ok']}/{c['trades']}"),
               ("trades/s", "trades_per_second"),
               ("trade p50 / p99 ms", lambda c: f"{c['trade_latency_ms_p50']} / {c['trade_latency_ms_p99']}"),
               ("/start p50 / p99 ms", lambda c: f"{c['start_latency_ms_p50']} / {c['start_latency_ms_p99']}"),
               ("bot CPU s (% of a core)", lambda c: f"{c['bot_cpu_seconds']} ({c['bot_cpu_percent_of_one_core']}%)"),
               ("bot RSS idle / peak MiB", lambda c: f"{c['bot_idle_rss_mib']} / {c['bot_peak_rss_mib']}"),
               ("localnet+driver CPU s", "bench_cpu_seconds"), ("wall s", "wall_seconds"),
               ("case s", "case_seconds")]
    print("| " + " | ".join(title for title, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for case in cases:
        cells = [value(case) if callable(value) else case[value] for _, value in columns]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    for case in cases:
        print(f"{case['users']} users: buy p50/p99 {case['buy_latency_ms_p50']}/{case['buy_latency_ms_p99']} ms, "
              f"sell p50/p99 {case['sell_latency_ms_p50']}/{case['sell_latency_ms_p99']} ms; per trade "
              f"{case['rpc_requests_per_trade']} RPC + {case['venue_requests_per_trade']} swap-API requests, "
              f"{case['telegram_messages_per_trade']} Telegram sends/edits, bot CPU {case['bot_cpu_ms_per_trade']} ms; "
              f"Telegram sends/edits per second while trading {case['telegram_messages_per_second']}; blocks from "
              f"swap built to landed p50/max {case['blockhash_age_blocks_p50']}/{case['blockhash_age_blocks_max']} "
              f"(expires at {BLOCKHASH_VALIDITY}); "
              f"failures {case['failures'] or 'none'}; bot log problems {case['bot_log_problems'] or 'none'}; "
              f"bot exit code {case['bot_exit_code']}")


if __name__ == "__main__":
    main()
