"""The Bot API away, at start and while running: one line each, never a traceback, and polling backs off."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys

import pytest
from telegram.error import NetworkError

from kernel.config import BASE_DIR
from telegrambot.runner import PollingErrors
from tests.settings import TEST_WALLET_KEY

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_an_unreachable_bot_api_at_start_is_one_line(tmp_path):
    port = _closed_port()
    env = {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": "/dev/null", "SECRET_KEY": "tests-only",
           "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "TELEGRAM_BOT_TOKEN": "123456789:" + "A" * 35,
           "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}", "BOT_METRICS_PORT": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = subprocess.run([sys.executable, "manage.py", "runbot"], cwd=BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    [line] = [line for line in output.splitlines() if "Bot API" in line]
    assert line.startswith(f"CommandError: Cannot reach the Telegram Bot API at http://127.0.0.1:{port} (")
    assert "TELEGRAM_API_BASE_URL" in line and "A" * 35 not in output


async def test_an_outage_while_polling_logs_one_line_per_doubling_and_recovers(bot, chat_factory, telegram, caplog):
    caplog.set_level(logging.WARNING)
    chat = chat_factory()
    await chat.say("/help")
    telegram.faults.fail_next(5, status=502, only="getUpdates")
    await chat.say("/help", timeout=30)  # answered by the poll already waiting; the next five polls fail
    await chat.say("/help", timeout=60)  # answered once polling is back
    outage = [r for r in caplog.records if "Telegram Bot API unreachable" in r.getMessage()]
    assert [r.getMessage().split("; ")[1] for r in outage] == [
        "1 failed poll(s) in a row, retrying with back-off", "2 failed poll(s) in a row, retrying with back-off",
        "4 failed poll(s) in a row, retrying with back-off"]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in caplog.records), caplog.text


async def test_a_reply_that_cannot_be_sent_is_one_line(bot, chat_factory, telegram, caplog):
    caplog.set_level(logging.WARNING)
    chat = chat_factory()
    await chat.say("/help")
    telegram.faults.fail_next(1, status=502, only="sendMessage")
    await telegram.send_text(chat.user_id, "/help")
    async with asyncio.timeout(20):
        while not any("Could not send a reply (NetworkError" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.05)
    assert all(r.exc_info is None for r in caplog.records), caplog.text
    assert (await chat.say("/help"))["text"]  # and the next one is answered


def test_polling_errors_are_logged_at_each_doubling_and_counted_afresh_after_a_quiet_spell(caplog):
    now = [0.0]
    callback = PollingErrors(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="telegrambot.runner"):
        for _ in range(10):
            now[0] += 2
            callback(NetworkError("httpx.ConnectError: All connection attempts failed"))
        now[0] += PollingErrors.QUIET_SECONDS + 1
        callback(NetworkError("Bad Gateway"))
    counts = [int(r.getMessage().split("; ")[1].split()[0]) for r in caplog.records]
    assert counts == [1, 2, 4, 8, 1]
    assert caplog.records[0].getMessage().startswith(
        "Telegram Bot API unreachable (NetworkError: httpx.ConnectError: All connection attempts failed)")
