"""The bot's own Prometheus series, counted where things happen. Labels never carry user ids, addresses or mints.

The gauges read from the ledger at scrape time live in the project shell (``tradingbot.metrics``): they query the
apps' models, which the kernel never imports."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

STARTED_AT = time.time()

RPC_REQUESTS = Counter("trading_bot_rpc_requests", "Solana RPC requests sent, by JSON-RPC method", ["method"])
JUPITER_REQUESTS = Counter("trading_bot_jupiter_requests", "Swap API requests sent, by endpoint", ["endpoint"])
SWAPS_REFUSED = Counter("trading_bot_swaps_refused", "Swap transactions refused before signing, by the check "
                        "that refused them", ["check"])
TRADES = Counter("trading_bot_trades", "Trades that ended, by outcome", ["status", "side"])
PAPER_TRADES = Counter("trading_bot_paper_trades", "Paper trades filled (never signed or sent; not in "
                       "trading_bot_trades)", ["side"])
TRADE_SECONDS = Histogram("trading_bot_trade_latency_seconds", "From trade start to confirmed", ["side"],
                          buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120))
SNIPE_LAUNCHES_DROPPED = Counter("trading_bot_snipe_launches_dropped",
                                 "New launches dropped before any snipe: the queue was full, or the bot stopped",
                                 ["reason"])
MONITOR_CYCLES_DEFERRED = Counter("trading_bot_monitor_cycles_deferred",
                                  "Stop-loss/take-profit cycles put off because the swap API's request budget was "
                                  "kept for trades (JUPITER_REQUESTS_PER_MINUTE)")
UPTIME = Gauge("trading_bot_uptime_seconds", "Seconds since this process started")
UPTIME.set_function(lambda: time.time() - STARTED_AT)
