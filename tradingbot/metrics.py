"""The bot's own Prometheus series. Labels never carry user ids, addresses or mints."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

STARTED_AT = time.time()

RPC_REQUESTS = Counter("trading_bot_rpc_requests", "Solana RPC requests sent, by JSON-RPC method", ["method"])
JUPITER_REQUESTS = Counter("trading_bot_jupiter_requests", "Swap API requests sent, by endpoint", ["endpoint"])
TRADES = Counter("trading_bot_trades", "Trades that ended, by outcome", ["status", "side"])
TRADE_SECONDS = Histogram("trading_bot_trade_latency_seconds", "From trade start to confirmed", ["side"],
                          buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120))
UPTIME = Gauge("trading_bot_uptime_seconds", "Seconds since this process started")
UPTIME.set_function(lambda: time.time() - STARTED_AT)
