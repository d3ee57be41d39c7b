"""``manage.py runbot`` as operators run it: a real process, stopped by a real signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from kernel.config import BASE_DIR
from tests.settings import TEST_WALLET_KEY

SOL = 10**9


@pytest.fixture
def process_env(localnet, telegram, tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TRADINGBOT_ENV_FILE": os.devnull,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}", "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY,
        "SECRET_KEY": "process-test", "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.url,
        "SOLANA_RPC_URL": localnet.rpc_url, "JUPITER_API_URL": localnet.jupiter_url,
        "DEFAULT_PRIORITY_FEE_LAMPORTS": "1000", "PYTHONWARNINGS": "always", "PYTHONUNBUFFERED": "1",
        "BOT_METRICS_PORT": str(_free_port()),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True,
                   timeout=120)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=120)


def _start_bot(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "runbot"], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_until_polling(telegram, process, since: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(method == "getUpdates" for method, _ in telegram.calls[since:]):
            return
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else "(output not captured)"
            raise AssertionError(f"runbot exited early with {process.returncode}:\n{output}")
        time.sleep(0.05)
    raise AssertionError("runbot never polled the Bot API")


def _stop(process, sig) -> str:
    process.send_signal(sig)
    output, _ = process.communicate(timeout=30)
    return output


def _assert_no_wallet_secret_in(output: str, env: dict) -> None:
    """Read every wallet the process created from its own database and look for its secret in what it printed."""
    import sqlite3

    from tests.conftest import secret_encodings
    from wallets.crypto import Keyring

    keyring = Keyring([env["WALLET_ENCRYPTION_KEY"]])
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        sealed = [row[0] for row in connection.execute("SELECT encrypted_secret FROM user_wallets")]
    assert sealed, "the process created no wallet to check"
    for token in sealed:
        assert not any(encoding in output for encoding in secret_encodings(keyring.open(token)))


def _assert_clean_exit(process, output: str) -> None:
    assert process.returncode == 0, output
    assert "Closing Solana RPC client..." in output
    assert output.rstrip().splitlines()[-1].endswith("Shutting down...")
    for bad in ("Traceback", "ResourceWarning", "Unclosed", "unclosed", "was never awaited", "apscheduler"):
        assert bad not in output, output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_idle_shuts_down_cleanly(process_env, telegram, sig):
    since = len(telegram.calls)
    process = _start_bot(process_env)
    _wait_until_polling(telegram, process, since)
    telegram.send_text_sync(810_001, "/start")
    assert "Welcome" in telegram.next_reply_sync(810_001, timeout=30)["text"]
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{process_env['BOT_METRICS_PORT']}/metrics", timeout=5) as page:
        metrics = page.read().decode()
    assert 'trading_bot_rpc_requests_total{method="getBalance"}' in metrics
    assert "trading_bot_users 1.0" in metrics and "trading_bot_uptime_seconds" in metrics
    output = _stop(process, sig)
    _assert_clean_exit(process, output)
    _assert_no_wallet_secret_in(output, process_env)


def test_sigterm_during_a_trade_loses_nothing(process_env, telegram, localnet):
    since = len(telegram.calls)
    process = _start_bot(process_env)
    _wait_until_polling(telegram, process, since)
    user = 810_002
    telegram.send_text_sync(user, "/start")
    welcome = telegram.next_reply_sync(user, timeout=30)["text"]
    address = re.search(r"[1-9A-HJ-NP-Za-km-z]{32,44}", welcome).group(0)
    localnet.chain.airdrop(address, 5 * SOL)
    telegram.send_text_sync(user, f"/buy {localnet.token('BONK').mint} 0.5")
    while "Sending" not in telegram.next_reply_sync(user, timeout=30)["text"]:
        pass
    output = _stop(process, signal.SIGTERM)
    _assert_clean_exit(process, output)
    _assert_no_wallet_secret_in(output, process_env)
    result = _manage(process_env, "reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every wallet matches the ledger." in result.stdout
    assert "0 still pending" in result.stdout
    assert result.stderr == ""  # nothing stray (it once said "Closing Solana RPC client..." there)
