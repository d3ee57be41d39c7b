"""Crash anywhere: ``manage.py runbot`` is killed with SIGKILL while several users trade, at every named point of
a trade (after the quote, after signing, after the ledger's pending write, after the send, after confirmation, after
the ledger is applied, and between resends), during a slow quote, and at random moments; it is restarted each time.
It runs on localnet's mainnet profile: blocks advance on a slot clock, statuses go processed -> confirmed, and sends
are dropped at random (most of them in a round that must reach a resend), so trades land only by resending. At the
end the chain and the ledger must agree exactly: every lamport and every token unit in every wallet is explained by
the ledger, no trade is applied twice, none is left pending, and ``manage.py reconcile`` reports no difference.

Short inside ``make test`` (six rounds); 100 rounds, every kind of round, with ``make proof``, which also insists
that a bot died at every named point at least once. The figures keep apart a bot that died at its crash point by
itself from one the test killed (a random moment, a slow quote, or a crash point the round never reached); a sell
round where nobody holds a position buys first, so the sell points are reached. Updates the killed process had not
handled yet are simply lost (the trader gets no answer and sends the command again); the proof counts commands and
trades so that shows.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest

from kernel.config import BASE_DIR
from kernel.crashpoints import POINTS
from localnet.hostile import mainnet_profile as mainnet_profile_knobs
from tests.e2e.test_runbot_process import _wait_until_polling
from tests.proof.outcomes import record_module
from tests.proof.scale import FULL, scaled
from tests.settings import TEST_WALLET_KEY

SOL = 10**9
USERS = (820_001, 820_002, 820_003)
SYMBOLS = ("BONK", "WIF", "JUP")
# The order points (order.claimed, order.fired) need rounds that place orders: tests/e2e/test_orders.py crashes there
# until this proof gains such rounds.
ROUND_KINDS = [*(p for p in POINTS if not p.startswith("order.")), "during-quote", "random-moment", "random-moment"]
SHORT_KINDS = ["buy.recorded", "buy.resent", "sell.sent", "sell.applied", "during-quote", "random-moment"]  # ~30 s
SLOT_MS = 40  # mainnet's 400 ms, ten times faster: a blockhash still lives 150 blocks
DROP_RATE, RESEND_ROUND_DROP_RATE = 0.3, 0.8


class BotDatabase:
    """The bot processes' own database: a SQLite file, or a scratch PostgreSQL database when the suite runs on
    PostgreSQL. Read with plain SQL, the way an auditor would."""

    def __init__(self, tmp_path) -> None:
        base = os.environ.get("DATABASE_URL", "")
        self.postgres = base.startswith("postgres")
        if self.postgres:
            parts = urlsplit(base)
            self.name = f"crash_proof_{os.getpid()}"
            self.url = parts._replace(path=f"/{self.name}").geturl()
            self._admin_url = base
            self._admin("DROP DATABASE IF EXISTS {}", "CREATE DATABASE {}")
        else:
            self.url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self._admin_url, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement.format(self.name))

    def rows(self, sql: str) -> list[tuple]:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.url) as connection:
                return list(connection.execute(sql).fetchall())
        import sqlite3

        with sqlite3.connect(self.url.removeprefix("sqlite:///")) as connection:
            return list(connection.execute(sql).fetchall())

    @property
    def vendor(self) -> str:
        """As Django's ``connection.vendor`` names it."""
        return "postgresql" if self.postgres else "sqlite"

    def drop(self) -> None:
        if self.postgres:
            self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")


@pytest.fixture
def bot_database(tmp_path):
    database = BotDatabase(tmp_path)
    yield database
    database.drop()


@pytest.fixture(scope="module")
def figures(request):
    figures: dict = {}
    yield figures
    record_module(request, "crash_anywhere", **figures, result="pass: 0 ledger differences, 0 pending, 0 applied twice")


def _env(localnet, telegram, database: BotDatabase, crash_at: str | None) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADINGBOT_ENV_FILE": os.devnull,
        "DATABASE_URL": database.url, "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "SECRET_KEY": "crash-proof",
        "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url,
        "SOLANA_RPC_URLS": f"{localnet.rpc_url},{localnet.lagging_rpc_url}", "JUPITER_API_URL": localnet.jupiter_url,
        "SOLANA_WS_URL": localnet.ws_url,
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_LOSS_SOL": "50",
        "PYTHONUNBUFFERED": "1", "BOT_METRICS_PORT": "0", "MONITOR_INTERVAL_SECONDS": "3600",
        "REBROADCAST_SECONDS": "0.1",
    }
    if crash_at:
        env["TRADINGBOT_CRASH_AT"] = crash_at
    return env


def _manage(env, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _start(env, telegram) -> subprocess.Popen:
    since = len(telegram.calls)
    process = subprocess.Popen([sys.executable, "manage.py", "runbot"], cwd=BASE_DIR, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_until_polling(telegram, process, since, timeout=60)
    return process


def _open_positions(database: BotDatabase) -> dict[int, list[str]]:
    held: dict[int, list[str]] = {user: [] for user in USERS}
    for user, mint in database.rows("SELECT w.telegram_user_id, p.token_mint FROM positions p JOIN user_wallets w "
                                    "ON w.id = p.user_id WHERE p.is_open"):
        held[int(user)].append(mint)
    return held


def _commands(rng: random.Random, kind: str, localnet, database: BotDatabase) -> dict[int, str]:
    held = _open_positions(database)
    commands = {}
    for user in USERS:
        sell = held[user] and (kind.startswith("sell.") or (not kind.startswith("buy.") and rng.random() < 0.5))
        if sell:
            amount = rng.choice(("25%", "50%", "all", "10%"))
            commands[user] = f"/sell {rng.choice(held[user])} {amount}"
        else:
            lamports = rng.randrange(1, 6) * 10_000_000
            commands[user] = f"/buy {localnet.token(rng.choice(SYMBOLS)).mint} {lamports / SOL}"
    return commands


@pytest.fixture
def mainnet_profile(localnet):
    """localnet's mainnet profile for the test (time ten times faster), but for Jupiter's rate limit (a matter of
    waiting, not of crashing); drops are set per round (``localnet.clear_faults`` ends each). The bots read from
    both nodes, the lagging one second (SOLANA_RPC_URLS), and pay the fixed default fee, below the fee market."""
    knobs = mainnet_profile_knobs(slot_ms=SLOT_MS)
    for name in ("slot_ms", "jupiter_rpm", "jupiter_window_seconds"):
        knobs.pop(name)
    saved = {name: getattr(localnet.knobs, name) for name in knobs}
    vars(localnet.knobs).update(knobs)
    localnet.start_slot_clock(SLOT_MS)
    yield localnet
    localnet.stop_slot_clock()
    vars(localnet.knobs).update(saved)
    localnet.clear_faults()


def test_sigkill_anywhere_loses_nothing(mainnet_profile, telegram, bot_database, figures):
    localnet = mainnet_profile
    kinds = ROUND_KINDS if FULL else SHORT_KINDS
    rounds = scaled(len(kinds), 100)
    rng = random.Random(20261124)
    database = bot_database
    started = time.monotonic()
    figures.update(database=database.vendor, rounds=rounds, profile=f"mainnet (slot clock {SLOT_MS} ms, a lagging "
                   f"second node, a fee market above the bots' fee), sends dropped {DROP_RATE:.0%} "
                   f"({RESEND_ROUND_DROP_RATE:.0%} in resend rounds)")
    migrate = _manage(_env(localnet, telegram, database, None), "migrate", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr

    # Everyone starts once, and gets SOL.
    process = _start(_env(localnet, telegram, database, None), telegram)
    airdropped: dict[str, int] = {}
    for user in USERS:
        telegram.send_text_sync(user, "/start")
        welcome = telegram.next_reply_sync(user, timeout=30)["text"]
        address = re.search(r"[1-9A-HJ-NP-Za-km-z]{32,44}", welcome).group(0)
        localnet.chain.airdrop(address, 20 * SOL)
        airdropped[address] = 20 * SOL
    process.kill()
    process.wait()

    died, killed, not_reached = Counter(), Counter(), Counter()
    commands_sent = buy_rounds = 0
    for index in range(rounds):
        kind = kinds[index % len(kinds)]
        crash_at = kind if kind in POINTS else None
        localnet.chain.set_drop_rate(RESEND_ROUND_DROP_RATE if kind.endswith(".resent") else DROP_RATE,
                                     seed=rng.randrange(2**32))
        process = _start(_env(localnet, telegram, database, crash_at), telegram)
        if kind.startswith("sell.") and not any(_open_positions(database).values()):
            # Nobody holds anything to sell (the last round may have left only a pending buy): buy first, on this
            # process, whose crash point is a sell point and so cannot trip on a buy.
            commands_sent += _buy_and_wait(rng, localnet, telegram, database)
            buy_rounds += 1
        if kind == "during-quote":
            localnet.jupiter.faults.latency_ms = 400
        for user, command in _commands(rng, kind, localnet, database).items():
            telegram.send_text_sync(user, command)
            commands_sent += 1
        if crash_at and _died_at_crash_point(process):
            died[kind] += 1
        else:
            if crash_at:
                not_reached[kind] += 1
            else:
                time.sleep(0.15 if kind == "during-quote" else rng.uniform(0.0, 0.6))
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed[kind] += 1
        localnet.clear_faults()
    never_reached = [point for point in POINTS if point in kinds and not died[point]]
    figures.update(died_at_crash_point=sum(died.values()), killed_by_test=sum(killed.values()),
                   died_at_crash_point_by_kind=dict(sorted(died.items())),
                   killed_by_test_by_kind=dict(sorted(killed.items())), crash_point_not_reached=dict(not_reached),
                   points_never_reached=never_reached, buy_rounds_before_sells=buy_rounds, commands=commands_sent)

    # The last restart settles what the crashes left pending; unlanded transactions expire first.
    localnet.chain.advance_blocks(200)
    process = _start(_env(localnet, telegram, database, None), telegram)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    result = _manage(_env(localnet, telegram, database, None), "reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every wallet matches the ledger." in result.stdout, result.stdout
    assert re.search(r"\b0 still pending", result.stdout), result.stdout

    # The auditor's view: nothing pending, every lamport and token unit explained, nothing applied twice.
    assert database.rows("SELECT count(*) FROM trades WHERE status = 'pending'") == [(0,)]
    wallets = dict(database.rows("SELECT id, public_key FROM user_wallets"))
    flow = {user: int(total) for user, total in database.rows(
        "SELECT user_id, sum(sol_change_lamports) FROM trades WHERE status <> 'pending' GROUP BY user_id")}
    for user_id, address in wallets.items():
        assert localnet.chain.sol_balance(address) == airdropped[address] + flow.get(user_id, 0), address
    tokens = Counter()
    for user_id, side, mint, amount_in, amount_out in database.rows(
            "SELECT user_id, side, token_mint, amount_in_raw, amount_out_raw FROM trades WHERE status = 'confirmed'"):
        tokens[(user_id, mint)] += int(amount_out) if side == "buy" else -int(amount_in)
    for (user_id, mint), raw in tokens.items():
        assert localnet.chain.token_balance(wallets[user_id], mint) == raw, (wallets[user_id], mint)
    signatures = [row[0] for row in database.rows("SELECT signature FROM trades")]
    assert len(signatures) == len(set(signatures))
    statuses = dict(database.rows("SELECT status, count(*) FROM trades GROUP BY status"))
    seconds = time.monotonic() - started
    figures.update(
        summary=f"{sum(died.values())} bots died by SIGKILL at their crash point ({_by_kind(died)}), "
                f"{sum(not_reached.values())} rounds never reached theirs; {sum(killed.values())} killed by the test "
                f"({_by_kind(killed)}); {buy_rounds} buy rounds before sells; {commands_sent} commands, "
                f"{len(signatures)} trades ({_by_kind(statuses)}); chain = ledger to the lamport in "
                f"{len(wallets)} wallets; {seconds:.0f} s",
        trades=len(signatures), trades_by_status={key: int(value) for key, value in statuses.items()},
        wallets=len(wallets), ledger_differences=0, pending_left=0, seconds=round(seconds, 1))
    if FULL:
        assert not never_reached, f"no bot died at {never_reached}: those crash points went untested"


def _died_at_crash_point(process: subprocess.Popen) -> bool:
    """Whether the bot killed itself at its crash point (SIGKILL, as a power cut would) before the test gave up."""
    try:
        code = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        return False
    assert code == -signal.SIGKILL, f"runbot exited with {code} by itself, not at its crash point"
    return True


def _buy_and_wait(rng: random.Random, localnet, telegram, database: BotDatabase) -> int:
    """Every user buys; wait (with a deadline) until each holds a position. How many commands were sent."""
    for user in USERS:
        telegram.send_text_sync(user, f"/buy {localnet.token(rng.choice(SYMBOLS)).mint} 0.02")
    deadline = time.monotonic() + 60
    while not all(_open_positions(database).values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(_open_positions(database).values()), "the buys before a sell round opened no position"
    return len(USERS)


def _by_kind(counts) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "none"
