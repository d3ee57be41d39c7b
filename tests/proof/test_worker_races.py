"""Races across processes, through the bot as it scales out: three ``runbot --webhook`` workers on one PostgreSQL
database and one Redis, behind a balancer that hands consecutive updates of the same user to different workers (the
stand-in plays it). Each worker keeps one trade per user at a time, so here the guards between sells are only the
database's: row locks on the position and its reservation.

- fifty sells of one position, sent at once: never oversold, nothing left reserved or pending, ledger = chain;
- one user's /start sent twenty times at once: one wallet;
- a buy, a sell and a withdrawal of everything racing (the Withdraw button pressed twice, on two workers): the button
  acts once, no balance goes negative, ledger = chain.

PostgreSQL only (SQLite means one process). Short inside ``make test`` on PostgreSQL, full with ``make proof``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from kernel.config import BASE_DIR
from telegrambot import texts
from tests.e2e.conftest import buttons
from tests.proof.outcomes import record_module
from tests.proof.scale import scaled
from tests.proof.test_crash_anywhere import BotDatabase, _env, _manage

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                                reason="needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")
SOL = 10**9
WORKERS = 3
SECRET = "worker-race-secret"
REDIS_URL = os.environ.get("PROOF_REDIS_URL", "redis://127.0.0.1:6379/7")
FIGURES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _record(request):
    yield
    parts = [f"{name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()) for name, figures in FIGURES.items()]
    record_module(request, "worker_races", database="postgresql", workers=WORKERS, **FIGURES,
                  result="pass: never oversold, ledger = chain, one wallet, a button acts once",
                  summary=f"{WORKERS} webhook worker processes, updates spread across them; " + "; ".join(parts))


@pytest.fixture
def workers(localnet, telegram, tmp_path):
    """Migrated scratch database, Redis flushed, three workers listening, the stand-in balancing across them."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    database = BotDatabase(tmp_path)
    env = {**_env(localnet, telegram, database, None), "REDIS_URL": REDIS_URL, "USER_RATE_LIMIT": "1000",
           "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook/", "TELEGRAM_WEBHOOK_SECRET": SECRET}
    migrate = _manage(env, "migrate", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr
    logs, processes, ports = [], [], []
    try:
        for _ in range(WORKERS):
            port, process, log = _start_worker(env, tmp_path)
            ports.append(port)
            processes.append(process)
            logs.append(log)
        telegram.balance_webhook([f"http://127.0.0.1:{port}/telegram/webhook/" for port in ports],
                                 secret_token=SECRET)
        yield database
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        database.drop()


def test_fifty_sells_across_workers_never_oversell(workers, localnet, telegram):
    count, waves = scaled(20, 50), scaled(2, 5)
    user = 840_001
    address = _start(telegram, user)
    localnet.chain.airdrop(address, 10 * SOL)
    mint = localnet.token("BONK").mint
    assert "Bought" in _final(telegram, user, f"/buy {mint} 0.5")["text"]
    replies: list[str] = []
    for wave in range(waves):  # each wave: every worker starts a sell at once, racing on the position's row
        since = _last_id(telegram, user)
        burst = count // waves
        for index in range(burst):  # distinct amounts: identical sells would be one transaction (refused twice)
            last = wave == waves - 1 and index == burst - 1
            telegram.send_text_sync(user, f"/sell {mint} {'all' if last else f'{1 + (wave * burst + index) % 9}%'}")
        replies += _settled_replies(telegram, user, since, burst)

    _ledger_equals_chain(workers, localnet, address, deposited=10 * SOL)
    rows = workers.rows("SELECT remaining_amount_raw, reserved_raw FROM positions p JOIN user_wallets w "
                        f"ON w.id = p.user_id WHERE w.telegram_user_id = {user}")
    assert all(int(remaining) >= 0 and int(reserved) == 0 for remaining, reserved in rows)
    kinds = {"sold": "Sold", "refused by the position's reservation": "being sold",
             "refused as a duplicate of another worker's identical sell": "identical trade",
             "refused by the worker's one-trade guard": "still running", "position closed": "no open position",
             "refused: another worker's sale landed as it started": "Another sale of this position finished"}
    counted = {name: sum(marker in text for text in replies) for name, marker in kinds.items()}
    unexpected = [text for text in replies if not any(marker in text for marker in kinds.values())]
    assert not unexpected and len(replies) == count, unexpected or replies  # every answer is one of these
    FIGURES["sells"] = {"sent": count, "waves": waves, **counted}


def test_twenty_starts_across_workers_make_one_wallet(workers, telegram):
    user = 840_002
    since = _last_id(telegram, user)
    for _ in range(20):
        telegram.send_text_sync(user, "/start")
    replies = _settled_replies(telegram, user, since, 20)
    assert all("Something went wrong" not in text for text in replies), replies
    assert workers.rows(f"SELECT count(*) FROM user_wallets WHERE telegram_user_id = {user}") == [(1,)]
    addresses = {match.group(0) for text in replies for match in [re.search(r"[1-9A-HJ-NP-Za-km-z]{32,44}", text)]
                 if match}
    assert len(addresses) == 1  # every reply shows the same wallet
    FIGURES["starts"] = {"sent": 20, "wallets": 1}


def test_a_buy_a_sell_and_a_withdrawal_race_across_workers(workers, localnet, telegram):
    rounds = scaled(2, 6)
    outcomes: dict[str, int] = {}
    for index in range(rounds):
        user = 840_100 + index
        address = _start(telegram, user)
        localnet.chain.airdrop(address, 3 * SOL)
        assert "Bought" in _final(telegram, user, f"/buy {localnet.token('JUP').mint} 0.5")["text"]
        destination = str(localnet.funded_keypair(sol=1).pubkey())
        telegram.send_text_sync(user, f"/withdraw {destination} all")
        question = telegram.next_reply_sync(user, timeout=30)
        assert "✅ Withdraw" in buttons(question), question["text"]
        since = _last_id(telegram, user)
        withdraw = buttons(question)["✅ Withdraw"]
        telegram.press_sync(user, question, withdraw)
        telegram.press_sync(user, question, withdraw)  # pressed twice: the second reaches another worker
        telegram.send_text_sync(user, f"/buy {localnet.token('BONK').mint} 0.5")
        telegram.send_text_sync(user, f"/sell {localnet.token('JUP').mint} 50%")
        replies = _settled_replies(telegram, user, since, 4)
        assert not any("Something went wrong" in text for text in replies), replies
        withdrawals = workers.rows("SELECT count(*) FROM withdrawals w JOIN user_wallets u ON u.id = w.user_id "
                                   f"WHERE u.telegram_user_id = {user}")
        assert withdrawals[0][0] <= 1  # the button acted once
        _ledger_equals_chain(workers, localnet, address, deposited=3 * SOL)
        said = " ".join(replies)
        assert said.count(texts.NOT_YOURS) == 1  # the second press found the button already used
        for name, done in (("withdrawal", "Sent" in said), ("buy", "Bought" in said), ("sell", "Sold" in said),
                           ("second press", False)):
            key = f"{name} {'done' if done else 'refused'}"
            outcomes[key] = outcomes.get(key, 0) + 1
    FIGURES["buy_sell_withdraw"] = {"rounds": rounds, **outcomes}


# Helpers: a user typing, read through the stand-in; the chain and the ledger read the way an auditor would.

def _start(telegram, user: int) -> str:
    telegram.send_text_sync(user, "/start")
    welcome = telegram.next_reply_sync(user, timeout=60)["text"]
    return re.search(r"[1-9A-HJ-NP-Za-km-z]{32,44}", welcome).group(0)


def _final(telegram, user: int, text: str) -> dict:
    telegram.send_text_sync(user, text)
    message = telegram.next_reply_sync(user, timeout=60)
    while message["text"].startswith("⏳"):
        message = telegram.next_reply_sync(user, timeout=60)
    return message


def _last_id(telegram, user: int) -> int:
    return max((m["message_id"] for m in telegram.messages(user)), default=0)


def _settled_replies(telegram, user: int, since: int, expected: int, timeout: float = 120) -> list[str]:
    """The bot's messages after ``since`` once there are ``expected`` of them and none shows progress any more."""
    deadline = time.monotonic() + timeout
    while True:
        replies = [m.get("text", "") for m in telegram.messages(user)
                   if m.get("from", {}).get("is_bot") and m["message_id"] > since]
        if len(replies) >= expected and not any(text.startswith("⏳") for text in replies):
            return replies
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(replies)} of {expected} replies settled within {timeout} s: {replies[-5:]}")
        time.sleep(0.1)


def _ledger_equals_chain(database: BotDatabase, localnet, address: str, *, deposited: int) -> None:
    deadline = time.monotonic() + 60
    while database.rows("SELECT count(*) FROM trades WHERE status = 'pending'") != [(0,)] or database.rows(
            "SELECT count(*) FROM withdrawals WHERE status = 'pending'") != [(0,)]:
        assert time.monotonic() < deadline, "a trade or withdrawal stayed pending"
        time.sleep(0.1)
    flows = 0
    for table in ("trades", "withdrawals"):
        rows = database.rows(f"SELECT coalesce(sum(t.sol_change_lamports), 0) FROM {table} t JOIN user_wallets u "
                             f"ON u.id = t.user_id WHERE u.public_key = '{address}' AND t.status <> 'pending'")
        flows += int(rows[0][0])
    assert localnet.chain.sol_balance(address) == deposited + flows
    for mint, remaining in database.rows(
            "SELECT p.token_mint, sum(p.remaining_amount_raw) FROM positions p JOIN user_wallets u ON u.id = p.user_id"
            f" WHERE u.public_key = '{address}' AND p.is_open GROUP BY p.token_mint"):
        assert localnet.chain.token_balance(address, mint) == int(remaining), mint


def _start_worker(env: dict, tmp_path) -> tuple[int, subprocess.Popen, object]:
    """A webhook worker on a free port; a port taken between choosing it and binding it means another try."""
    for _ in range(3):
        port = _free_port()
        log = (tmp_path / f"worker-{port}.log").open("w")  # read it when a race fails
        process = subprocess.Popen([sys.executable, "manage.py", "runbot", "--webhook", "--no-register", "--port",
                                    str(port)], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        if _serving(port, process):
            return port, process, log
        process.kill()
        process.wait()
        log.close()
    raise AssertionError(f"no webhook worker would start; see the worker logs in {tmp_path}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving(port: int, process: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False
