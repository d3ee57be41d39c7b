"""Backup and verify durations with 10,000 trades, on SQLite and on PostgreSQL. Prints figures.

    .venv/bin/python -m bench.ops_backup [--trades 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
FILL = """
import django; django.setup()
from positions.models import Position, Trade
from custody.services import get_or_create_user_wallet
wallets = [get_or_create_user_wallet(i, f"u{i}").wallet for i in range(100)]
Trade.objects.bulk_create([Trade(user=wallets[i % 100], token_mint="M" * 44, token_decimals=6, side="buy",
    status="confirmed", signature=f"sig{i}", lamports_in=10**8, amount_out_raw=10**9, last_valid_block_height=1)
    for i in range({n})], batch_size=2000)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    _measure("SQLite", f"sqlite:///{work / 'live.sqlite3'}", work, args.trades)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    try:
        _measure("PostgreSQL", f"postgres://postgres@127.0.0.1:5432/{name}", work, args.trades)
    finally:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {name} WITH (FORCE)"])


def _measure(label: str, url: str, work: Path, trades: int) -> None:
    env = {**os.environ, "TRADINGBOT_ENV_FILE": os.devnull, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE":
           "tradingbot.settings", "WALLET_ENCRYPTION_KEY": "pYt7Kq8m2ZxvB3nWc5dRfGh9JkLpQs4tUvWxYz0aBcE=",
           "SECRET_KEY": "bench-only"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE, env=env, check=True)
    subprocess.run([sys.executable, "-c", FILL.replace("{n}", str(trades))], cwd=BASE, env=env, check=True)
    directory = work / label
    for step, extra in (("backup", []), ("verify", ["--verify-only"])):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "manage.py", "backup_db", "--dir", str(directory), *extra],
                                cwd=BASE, env=env, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        print(f"{label:10} {step:6} {seconds:5.2f} s (whole command)  {result.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
