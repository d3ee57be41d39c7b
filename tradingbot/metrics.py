"""The bot's own Prometheus series. Labels never carry user ids, addresses or mints."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

STARTED_AT = time.time()

RPC_REQUESTS = Counter("trading_bot_rpc_requests", "Solana RPC requests sent, by JSON-RPC method", ["method"])
JUPITER_REQUESTS = Counter("trading_bot_jupiter_requests", "Swap API requests sent, by endpoint", ["endpoint"])
SWAPS_REFUSED = Counter("trading_bot_swaps_refused", "Swap transactions refused before signing, by the check "
                        "that refused them", ["check"])
TRADES = Counter("trading_bot_trades", "Trades that ended, by outcome", ["status", "side"])
TRADE_SECONDS = Histogram("trading_bot_trade_latency_seconds", "From trade start to confirmed", ["side"],
                          buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120))
SNIPE_LAUNCHES_DROPPED = Counter("trading_bot_snipe_launches_dropped",
                                 "New launches dropped before any snipe: the queue was full, or the bot stopped",
                                 ["reason"])
UPTIME = Gauge("trading_bot_uptime_seconds", "Seconds since this process started")
UPTIME.set_function(lambda: time.time() - STARTED_AT)


KILL_SWITCH_HELP = "Kill switches that are on (scope global: 1 = paused for everyone; user: number of users paused)"


class _LedgerGauges:
    """Open positions and users, counted at scrape time (two COUNT queries), so every process reports the truth."""

    def describe(self):
        """Names only, so that registering never queries the database (prometheus_client calls collect()
        at registration when a collector has no describe())."""
        from prometheus_client.core import GaugeMetricFamily

        return [GaugeMetricFamily("trading_bot_open_positions", "Open positions"),
                GaugeMetricFamily("trading_bot_users", "Users with a wallet"),
                GaugeMetricFamily("trading_bot_kill_switches", KILL_SWITCH_HELP, labels=["action", "scope"])]

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from custody.models import KillSwitch
        from positions.models import Position
        from wallets.models import UserWallet

        try:
            positions = Position.objects.filter(is_open=True).count()
            users = UserWallet.objects.count()
            switches = list(KillSwitch.objects.values_list("action", "user_id"))
        except Exception:  # database down: the probe reports it; metrics stay scrapeable
            return
        yield GaugeMetricFamily("trading_bot_open_positions", "Open positions", value=positions)
        yield GaugeMetricFamily("trading_bot_users", "Users with a wallet", value=users)
        family = GaugeMetricFamily("trading_bot_kill_switches", KILL_SWITCH_HELP, labels=["action", "scope"])
        for action in KillSwitch.Action.values:
            for scope, is_global in (("global", True), ("user", False)):
                count = sum(1 for name, user in switches if name == action and (user is None) == is_global)
                family.add_metric([action, scope], count)
        yield family


def register_ledger_gauges() -> None:
    """Called once per process (apps.ready); a second call is a no-op."""
    from prometheus_client import REGISTRY

    global _registered
    if not _registered:
        REGISTRY.register(_LedgerGauges())
        _registered = True


_registered = False
