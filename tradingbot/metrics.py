"""Gauges read from the ledger at scrape time, so every process reports the truth. The counters live in
``kernel.metrics``."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from custody.models import KillSwitch
from positions.stats import open_positions_count
from wallets.models import UserWallet

KILL_SWITCH_HELP = "Kill switches that are on (scope global: 1 = paused for everyone; user: number of users paused)"


class _LedgerGauges:
    """Open positions and users, counted at scrape time (two COUNT queries), so every process reports the truth."""

    def describe(self):
        """Names only, so that registering never queries the database (prometheus_client calls collect()
        at registration when a collector has no describe())."""
        return [GaugeMetricFamily("trading_bot_open_positions", "Open positions"),
                GaugeMetricFamily("trading_bot_users", "Users with a wallet"),
                GaugeMetricFamily("trading_bot_kill_switches", KILL_SWITCH_HELP, labels=["action", "scope"])]

    def collect(self):
        try:
            positions = open_positions_count()
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
    global _registered
    if not _registered:
        REGISTRY.register(_LedgerGauges())
        _registered = True


_registered = False
