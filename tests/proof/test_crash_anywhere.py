"""Crash anywhere: ``manage.py runbot`` is killed with SIGKILL while several users trade, at every named point of
a trade (after the quote, after signing, after the ledger's pending write, after the send, after confirmation, after
the ledger is applied, and between resends), during a slow quote, and at random moments; it is restarted each time.
It runs on localnet's mainnet profile: blocks advance on a slot clock, statuses go processed -> confirmed, and sends
are dropped at random (most of them in a round that must reach a resend), so trades land only by resending. At the
end the chain and the ledger must agree exactly: every lamport and every token unit in every wallet is explained by
the ledger, no trade is applied twice, none is left pending, and ``manage.py reconcile`` reports no difference.

Orders too: in an order round the users type ``/limit <mint> buy <SOL> at -N%`` for a new token, another trader
dumps its price, and the bot's monitor (every second in those rounds) fires the orders; the bot dies at
``order.claimed`` (the firing row written, the trade not started), ``order.fired`` (the trade done, the order not
yet updated) or at a buy point reached through a firing. At the end no order may be fired twice (two confirmed
trades, or two filled firings) and none may be lost: each ends filled with exactly one confirmed trade, or failed
with its reason, or resting after a refusal with its reason; none is left firing, no firing open, none with two
trades.

Short inside ``make test`` (eight rounds, two of them order rounds); with ``make proof`` 150 rounds, 100 trade
rounds and 50 order rounds (every third), every kind of each, and it also insists that a bot died at every named
point at least once. The figures keep apart a bot that died at its crash point by
itself from one the test killed (a random moment, a slow quote, or a crash point the round never reached); a sell
round where nobody holds a position buys first, so the sell points are reached. Updates the killed process had not
handled yet are simply lost (the trader gets no answer and sends the command again); the proof counts commands and
trades so that shows.
"""

from __future__ import annotations

import itertools
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
ROUND_KINDS = [*(p for p in POINTS if not p.startswith("order.")), "during-quote", "random-moment", "random-moment"]
# Order rounds: the users place limit buys, another trader dumps the price, the bot's monitor fires them. The bot dies
# at an order point, or at a buy point reached through an order's firing ("order:buy.sent").
ORDER_KINDS = ["order.claimed", "order.fired", *(f"order:{p}" for p in POINTS if p.startswith("buy."))]
SHORT_KINDS = ["buy.recorded", "buy.resent", "sell.sent", "sell.applied", "during-quote", "random-moment",
               "order.fired", "order:buy.sent"]  # ~40 s
ORDER_MONITOR_SECONDS = 1  # the monitor's interval in order rounds (elsewhere 3600: it never runs)
ORPHAN_WAIT_SECONDS = 90  # the last restart waits this long at most for the orders to settle (a firing that sent
# nothing is released after positions.orders.ORPHAN_AFTER_SECONDS, then fires again)
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
    record_module(request, "crash_anywhere", **figures,
                  result="pass: 0 ledger differences, 0 pending, 0 applied twice, 0 orders fired twice, 0 lost")


def _env(localnet, telegram, database: BotDatabase, crash_at: str | None, *, monitor_seconds: int = 3600) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADINGBOT_ENV_FILE": os.devnull,
        "DATABASE_URL": database.url, "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "SECRET_KEY": "crash-proof",
        "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url,
        "SOLANA_RPC_URLS": f"{localnet.rpc_url},{localnet.lagging_rpc_url}", "JUPITER_API_URL": localnet.jupiter_url,
        "SOLANA_WS_URL": localnet.ws_url,
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "MAX_POSITION_SIZE_SOL": "5", "MAX_DAILY_LOSS_SOL": "50",
        "PYTHONUNBUFFERED": "1", "BOT_METRICS_PORT": "0", "MONITOR_INTERVAL_SECONDS": str(monitor_seconds),
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
    rounds = scaled(len(SHORT_KINDS), 150)
    kinds = _schedule(rounds)
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
    commands_sent = buy_rounds = order_rounds = 0
    for index, kind in enumerate(kinds):
        crash_at = kind.removeprefix("order:") if kind.removeprefix("order:") in POINTS else None
        ordering = kind in ORDER_KINDS
        localnet.chain.set_drop_rate(RESEND_ROUND_DROP_RATE if kind.endswith(".resent") else DROP_RATE,
                                     seed=rng.randrange(2**32))
        process = _start(_env(localnet, telegram, database, crash_at,
                              monitor_seconds=ORDER_MONITOR_SECONDS if ordering else 3600), telegram)
        if ordering:
            commands_sent += _place_orders_and_dump(rng, index, localnet, telegram, database, process)
            order_rounds += 1
        elif kind.startswith("sell.") and not any(_open_positions(database).values()):
            # Nobody holds anything to sell (the last round may have left only a pending buy): buy first, on this
            # process, whose crash point is a sell point and so cannot trip on a buy.
            commands_sent += _buy_and_wait(rng, localnet, telegram, database)
            buy_rounds += 1
        if kind == "during-quote":
            localnet.jupiter.faults.latency_ms = 400
        for user, command in ([] if ordering else _commands(rng, kind, localnet, database).items()):
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
    died_at = Counter({point: died[point] + died[f"order:{point}"] for point in POINTS})
    never_reached = [point for point in POINTS
                     if (point in kinds or f"order:{point}" in kinds) and not died_at[point]]
    figures.update(died_at_crash_point=sum(died.values()), killed_by_test=sum(killed.values()),
                   died_at_crash_point_by_kind=dict(sorted(died.items())),
                   killed_by_test_by_kind=dict(sorted(killed.items())), crash_point_not_reached=dict(not_reached),
                   points_never_reached=never_reached, buy_rounds_before_sells=buy_rounds, commands=commands_sent,
                   order_rounds=order_rounds)

    # The last restart settles what the crashes left pending; unlanded transactions expire first. Its monitor runs,
    # so the orders follow their trades, and those whose firing sent nothing are released and fire again.
    localnet.chain.advance_blocks(200)
    process = _start(_env(localnet, telegram, database, None, monitor_seconds=ORDER_MONITOR_SECONDS), telegram)
    time.sleep(2)
    _wait_for_orders_to_settle(database)
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
    orders = _check_orders(database)
    seconds = time.monotonic() - started
    figures.update(
        summary=f"{sum(died.values())} bots died by SIGKILL at their crash point ({_by_kind(died)}), "
                f"{sum(not_reached.values())} rounds never reached theirs; {sum(killed.values())} killed by the test "
                f"({_by_kind(killed)}); {buy_rounds} buy rounds before sells; {commands_sent} commands, "
                f"{len(signatures)} trades ({_by_kind(statuses)}); chain = ledger to the lamport in "
                f"{len(wallets)} wallets; {order_rounds} order rounds: {orders['placed']} orders placed, "
                f"{orders['filled']} filled, {orders['resting']} resting and {orders['failed']} failed with a reason, "
                f"{orders['fired_twice']} fired twice, {orders['lost']} lost; {seconds:.0f} s",
        trades=len(signatures), trades_by_status={key: int(value) for key, value in statuses.items()},
        wallets=len(wallets), ledger_differences=0, pending_left=0, seconds=round(seconds, 1),
        orders={key: value for key, value in orders.items() if key != "problems"})
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


def _schedule(rounds: int) -> list[str]:
    """The kind of each round: in ``make test`` the short list; with ``make proof`` every third round is an order
    round (50 of 150), the others the trade rounds, every kind of each in turn."""
    if not FULL:
        return SHORT_KINDS[:rounds]
    trades, orders = itertools.cycle(ROUND_KINDS), itertools.cycle(ORDER_KINDS)
    return [next(orders) if index % 3 == 2 else next(trades) for index in range(rounds)]


def _place_orders_and_dump(rng: random.Random, index: int, localnet, telegram, database: BotDatabase,
                           process: subprocess.Popen) -> int:
    """An order round: every user places a limit buy of a new token a little below its price (as typed: ``/limit
    <mint> buy 0.02 at -10%``); once the orders are in (or the bot died placing them: a released firing of an
    earlier round may reach the crash point first), another trader dumps the token to about a quarter of its price,
    so every trigger is met and the bot's monitor fires them within a second. How many commands were sent."""
    token = localnet.create_token(f"CRASH{index}", decimals=6, pool_sol_lamports=500 * SOL, pool_tokens_raw=10**12)
    for user in USERS:
        lamports = rng.randrange(1, 4) * 10_000_000
        telegram.send_text_sync(user, f"/limit {token.mint} buy {lamports / SOL} at -{rng.choice((5, 10, 20))}%")
    deadline = time.monotonic() + 30
    while _orders_of(database, token.mint) < len(USERS) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    localnet.swap_as(localnet.funded_keypair(sol=1), token.mint, localnet.sol_mint, localnet.pool(token.symbol)[1])
    return len(USERS)


def _orders_of(database: BotDatabase, mint: str) -> int:
    return int(database.rows(f"SELECT count(*) FROM orders WHERE token_mint = '{mint}'")[0][0])


def _wait_for_orders_to_settle(database: BotDatabase) -> None:
    """Until no order is firing and none is active without a retry time (that is, due to fire now: every trigger
    was met), or ``ORPHAN_WAIT_SECONDS``: a firing the crash left with no trade is released only after
    ``positions.orders.ORPHAN_AFTER_SECONDS`` (a firing that young may still be another process's), then fires."""
    unsettled = "SELECT count(*) FROM orders WHERE status = 'firing' OR (status = 'active' AND retry_at IS NULL)"
    deadline = time.monotonic() + ORPHAN_WAIT_SECONDS
    while database.rows(unsettled) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.5)


def _check_orders(database: BotDatabase) -> dict:
    """The orders' half of the proof. Every order here had its trigger met (the price was dumped far below it once
    it was placed), so each must end filled, or failed with its reason, or resting (active, with a retry time) after
    a refused firing whose reason is recorded. Anything else is *lost*: an order still ``firing``, one active with
    no retry time (never fired, or released and never fired again), or any other status. An order *fired twice* has
    more than one confirmed trade, or more than one filled firing. A filled order's one filled firing has exactly
    one trade, and it is confirmed; no order that is not filled has a confirmed trade; no firing is left open, and
    none has two trades."""
    orders = {pk: (status, reason or "", retry_at) for pk, status, reason, retry_at in database.rows(
        "SELECT id, status, failure_reason, retry_at FROM orders")}
    firings: dict[int, list[tuple[int, str, str]]] = {pk: [] for pk in orders}
    for pk, order_id, outcome, error in database.rows("SELECT id, order_id, outcome, error FROM order_firings"):
        firings[order_id].append((pk, outcome, error or ""))
    trades: dict[int, list[str]] = {}
    for firing_id, status in database.rows(
            "SELECT order_firing_id, status FROM trades WHERE order_firing_id IS NOT NULL"):
        trades.setdefault(firing_id, []).append(status)
    problems, lost, fired_twice = [], [], []
    for pk, (status, reason, retry_at) in orders.items():
        confirmed = sum(trades.get(firing, []).count("confirmed") for firing, _, _ in firings[pk])
        filled = [firing for firing, outcome, _ in firings[pk] if outcome == "filled"]
        if confirmed > 1 or len(filled) > 1:
            fired_twice.append(pk)
        if status == "filled":
            if len(filled) != 1 or trades.get(filled[0]) != ["confirmed"]:
                problems.append((pk, "filled without exactly one confirmed trade", firings[pk]))
        elif confirmed:
            problems.append((pk, f"{status} with a confirmed trade", firings[pk]))
        refused = [error for _, outcome, error in firings[pk] if outcome == "refused" and error]
        resting = status == "active" and retry_at is not None and refused
        if not (status == "filled" or (status == "failed" and reason) or resting):
            lost.append((pk, status, firings[pk]))
    open_firings = [firing for rows in firings.values() for firing, outcome, _ in rows if outcome == ""]
    two_trades = [firing for firing, statuses in trades.items() if len(statuses) > 1]
    assert not lost, f"orders lost (trigger met, neither filled nor resting nor failed with a reason): {lost}"
    assert not fired_twice, f"orders fired twice: {fired_twice}"
    assert not problems, problems
    assert not open_firings, f"firings left open: {open_firings}"
    assert not two_trades, f"firings with two trades: {two_trades}"
    counts = Counter(status for status, _, _ in orders.values())
    return {"placed": len(orders), "filled": counts["filled"], "failed": counts["failed"],
            "resting": counts["active"], "firings": sum(len(rows) for rows in firings.values()),
            "firings_abandoned": sum(outcome == "abandoned" for rows in firings.values() for _, outcome, _ in rows),
            "fired_twice": len(fired_twice), "lost": len(lost)}


def _by_kind(counts) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "none"
