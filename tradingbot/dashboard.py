"""The staff dashboard: the last 30 days at a glance, drawn as inline SVG on the server (no CDN, no script)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.utils import timezone

from custody.selectors import swap_refusals
from kernel.display import plain
from kernel.money import lamports_to_sol
from positions.stats import DayStats, daily_stats, open_positions_count
from wallets.models import UserWallet

WIDTH, HEIGHT, PAD = 560, 160, 28


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str
    latest: str


@staff_member_required
def dashboard(request):
    days = daily_stats(end=timezone.now().date(), days=30)
    charts = [
        _bars("Trades per day (confirmed / failed)", days, [lambda d: d.confirmed, lambda d: d.failed],
              ["#2e7d32", "#c62828"], latest=f"{days[-1].trades} today"),
        _bars("Volume per day (SOL)", days, [lambda d: lamports_to_sol(d.volume_lamports)], ["#1565c0"],
              latest=f"{plain(lamports_to_sol(days[-1].volume_lamports))} SOL today"),
        _bars("Success rate (%)", days, [lambda d: d.success_rate or 0], ["#6a1b9a"], ceiling=Decimal(100),
              latest=f"{days[-1].success_rate if days[-1].success_rate is not None else 'n/a'}% today"),
        _bars("Realized PnL per day (SOL)", days, [lambda d: lamports_to_sol(d.realized_pnl_lamports)],
              ["#ef6c00"], latest=f"{plain(lamports_to_sol(days[-1].realized_pnl_lamports))} SOL today"),
        _bars("Active traders per day", days, [lambda d: d.active_traders], ["#00838f"],
              latest=f"{days[-1].active_traders} today"),
    ]
    paper_today = daily_stats(end=timezone.now().date(), days=1, paper=True)[-1]
    context = {"title": "Dashboard", "charts": charts, "open_positions": open_positions_count(),
               "paper_trades_today": paper_today.trades,
               "users": UserWallet.objects.count(), "frozen": UserWallet.objects.filter(is_frozen=True).count(),
               "first_day": days[0].day, "last_day": days[-1].day, "refusals": swap_refusals()}
    return render(request, "admin/dashboard.html", context)


def _bars(title: str, days: list[DayStats], series, colors, *, latest: str, ceiling: Decimal | None = None) -> Chart:
    """Grouped bars, one group per day; negative values hang below the axis."""
    values = [[Decimal(pick(day)) for pick in series] for day in days]
    top = max([ceiling or Decimal(0), *[v for row in values for v in row]])
    bottom = min([Decimal(0), *[v for row in values for v in row]])
    span = (top - bottom) or Decimal(1)
    plot_h = HEIGHT - 2 * PAD
    zero_y = PAD + top / span * plot_h
    group_w = Decimal(WIDTH - 2 * PAD) / len(days)
    bar_w = max(group_w / (len(series) + 1), Decimal(1))
    parts = [f'<line x1="{PAD}" y1="{zero_y:.1f}" x2="{WIDTH - PAD}" y2="{zero_y:.1f}" stroke="#999"/>',
             f'<text x="2" y="{PAD - 8}" font-size="10" fill="#555">{plain(top.quantize(Decimal("0.01")))}</text>']
    for index, row in enumerate(values):
        for series_index, value in enumerate(row):
            height = abs(value) / span * plot_h
            x = PAD + index * group_w + series_index * bar_w
            y = zero_y - height if value >= 0 else zero_y
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                         f'fill="{colors[series_index]}"><title>{days[index].day}: {plain(value)}</title></rect>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 6}" font-size="10" fill="#555">{days[0].day:%b %d}</text>')
    parts.append(f'<text x="{WIDTH - PAD - 40}" y="{HEIGHT - 6}" font-size="10" '
                 f'fill="#555">{days[-1].day:%b %d}</text>')
    svg = (f'<svg class="chart" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')
    return Chart(title, svg, latest)
