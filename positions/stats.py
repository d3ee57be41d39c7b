"""Business figures per UTC day, for the stats export and the admin dashboard. Money stays in lamports here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from kernel.display import plain
from kernel.money import lamports_to_sol
from positions.models import Position, Trade
from wallets.models import UserWallet


@dataclass(frozen=True)
class DayStats:
    day: date
    users: int
    new_users: int
    active_traders: int
    trades: int
    confirmed: int
    failed: int
    volume_lamports: int
    realized_pnl_lamports: int

    @property
    def success_rate(self) -> Decimal | None:
        finished = self.confirmed + self.failed
        return None if finished == 0 else (Decimal(self.confirmed) * 100 / finished).quantize(Decimal("0.1"))

    def as_row(self) -> dict:
        row = asdict(self)
        row["day"] = self.day.isoformat()
        row["success_rate"] = None if self.success_rate is None else str(self.success_rate)
        row["volume_sol"] = plain(lamports_to_sol(row.pop("volume_lamports")))
        row["realized_pnl_sol"] = plain(lamports_to_sol(row.pop("realized_pnl_lamports")))
        return row


def daily_stats(*, end: date, days: int, paper: bool = False) -> list[DayStats]:
    """Real trading's figures; with ``paper``, the paper books' instead (never the two mixed)."""
    start = end - timedelta(days=days - 1)
    trades = {row["day"]: row for row in (
        Trade.objects.filter(created_at__date__gte=start, created_at__date__lte=end, paper=paper)
        .annotate(day=TruncDate("created_at")).values("day")
        .annotate(trades=Count("pk"), confirmed=Count("pk", filter=Q(status=Trade.Status.CONFIRMED)),
                  failed=Count("pk", filter=Q(status=Trade.Status.FAILED)),
                  active=Count("user", distinct=True),
                  bought=Sum("lamports_in", filter=Q(status=Trade.Status.CONFIRMED)),
                  sold=Sum("lamports_out", filter=Q(status=Trade.Status.CONFIRMED)),
                  pnl=Sum("realized_pnl_lamports", filter=Q(status=Trade.Status.CONFIRMED))))}
    joined = dict(UserWallet.objects.filter(created_at__date__gte=start, created_at__date__lte=end)
                  .annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("pk"))
                  .values_list("day", "n"))
    users = UserWallet.objects.filter(created_at__date__lt=start).count()
    result = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        row = trades.get(day, {})
        users += joined.get(day, 0)
        result.append(DayStats(day=day, users=users, new_users=joined.get(day, 0), active_traders=row.get("active", 0),
                               trades=row.get("trades", 0), confirmed=row.get("confirmed", 0),
                               failed=row.get("failed", 0),
                               volume_lamports=(row.get("bought") or 0) + (row.get("sold") or 0),
                               realized_pnl_lamports=row.get("pnl") or 0))
    return result


def open_positions_count(*, paper: bool = False) -> int:
    """Open real positions over every user: the one count the dashboard, /metrics and the Prometheus gauge show
    (``paper``: the paper ones instead)."""
    return Position.objects.filter(is_open=True, paper=paper).count()


@dataclass(frozen=True)
class BotCounts:
    succeeded: int
    failed: int
    open_positions: int
    users: int


def bot_counts() -> BotCounts:
    """The figures of the admins' /metrics: trades by outcome, open positions, users."""
    trades = Trade.objects.filter(paper=False).aggregate(succeeded=Count("pk", filter=Q(status=Trade.Status.CONFIRMED)),
                                     failed=Count("pk", filter=Q(status=Trade.Status.FAILED)))
    return BotCounts(succeeded=trades["succeeded"], failed=trades["failed"], open_positions=open_positions_count(),
                     users=UserWallet.objects.count())
