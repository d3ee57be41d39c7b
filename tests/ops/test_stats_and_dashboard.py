import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from custody.services import get_or_create_user_wallet
from positions.models import Position, Trade
from positions.stats import daily_stats
from tests.admin.otp import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    alice = get_or_create_user_wallet(1, "alice").wallet
    bob = get_or_create_user_wallet(2, "bob").wallet
    position = Position.objects.create(user=alice, token_mint="M" * 44, token_decimals=6, entry_amount_raw=10,
                                       remaining_amount_raw=10, entry_cost_lamports=5, remaining_cost_lamports=5)
    rows = [(alice, "buy", "confirmed", 2 * 10**9, 0, 0), (alice, "sell", "confirmed", 0, 3 * 10**9, 10**9),
            (bob, "buy", "failed", 10**9, 0, 0), (bob, "sell", "confirmed", 0, 10**9, -5 * 10**8)]
    for index, (user, side, status, lamports_in, lamports_out, pnl) in enumerate(rows):
        Trade.objects.create(user=user, position=position, token_mint=position.token_mint, token_decimals=6,
                             side=side, status=status, signature=f"s{index}", lamports_in=lamports_in,
                             lamports_out=lamports_out, realized_pnl_lamports=pnl, last_valid_block_height=1)
    return alice, bob


def test_daily_stats_count_today_exactly(ledger):
    today = daily_stats(end=timezone.now().date(), days=7)[-1]
    assert (today.users, today.new_users, today.active_traders) == (2, 2, 2)
    assert (today.trades, today.confirmed, today.failed) == (4, 3, 1)
    assert today.volume_lamports == 6 * 10**9 and today.realized_pnl_lamports == 5 * 10**8
    assert str(today.success_rate) == "75.0"
    assert daily_stats(end=timezone.now().date() - timedelta(days=1), days=1)[0].trades == 0


def test_export_stats_csv_and_json(ledger, tmp_path):
    out = io.StringIO()
    call_command("export_stats", "--period", "week", "--format", "csv", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 7 and rows[-1]["volume_sol"] == "6" and rows[-1]["realized_pnl_sol"] == "0.5"
    assert rows[-1]["success_rate"] == "75.0"
    target = tmp_path / "month.json"
    call_command("export_stats", "--period", "month", "--format", "json", "--output", str(target), stderr=io.StringIO())
    body = json.loads(target.read_text())
    assert body["period"] == "month" and len(body["days"]) == 30 and body["days"][-1]["trades"] == 4


@pytest.fixture
def paper_ledger(ledger):
    """Alice also trades on paper: two paper trades that no real figure may count."""
    alice, _ = ledger
    position = Position.objects.create(user=alice, token_mint="P" * 44, token_decimals=6, entry_amount_raw=10,
                                       remaining_amount_raw=10, entry_cost_lamports=5, remaining_cost_lamports=5,
                                       paper=True)
    for index, (side, lamports_in, lamports_out, pnl) in enumerate([("buy", 7 * 10**9, 0, 0),
                                                                     ("sell", 0, 9 * 10**9, 2 * 10**9)]):
        Trade.objects.create(user=alice, position=position, token_mint=position.token_mint, token_decimals=6,
                             side=side, status="confirmed", signature=f"paper-{index}", lamports_in=lamports_in,
                             lamports_out=lamports_out, realized_pnl_lamports=pnl, last_valid_block_height=0,
                             paper=True)
    return ledger


def test_paper_trades_stay_out_of_the_real_figures_and_export_on_their_own(paper_ledger):
    today = daily_stats(end=timezone.now().date(), days=1)[-1]
    assert (today.trades, today.volume_lamports, today.realized_pnl_lamports) == (4, 6 * 10**9, 5 * 10**8)
    out = io.StringIO()
    call_command("export_stats", "--period", "week", "--format", "json", "--book", "paper", stdout=out)
    body = json.loads(out.getvalue())
    assert body["book"] == "paper" and body["days"][-1]["trades"] == 2
    assert body["days"][-1]["volume_sol"] == "16" and body["days"][-1]["realized_pnl_sol"] == "2"
    out = io.StringIO()
    call_command("export_stats", "--period", "week", "--format", "csv", stdout=out)
    assert list(csv.DictReader(io.StringIO(out.getvalue())))[-1]["trades"] == "4"


def test_the_ledger_pages_filter_and_name_the_book(client, django_user_model, paper_ledger):
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "pw-long-enough-1")
    staff_client(client, boss, "pw-long-enough-1")
    trades = reverse("admin:positions_trade_changelist")
    on_paper = client.get(trades + "?book=paper").content.decode()
    assert "paper-0" in on_paper and "paper-1" in on_paper and ">s0<" not in on_paper
    real = client.get(trades + "?book=real").content.decode()
    assert "paper-0" not in real and ">s0<" in real
    html = client.get(reverse("dashboard")).content.decode()
    assert 'id="kpi-paper-trades"' in html and "?book=paper" in html
    assert 'id="kpi-open-positions">1<' in html  # alice's real position; the paper one is not counted
    assert client.get(reverse("admin:positions_paperaccount_changelist")).status_code == 200


def test_dashboard_is_staff_only_and_draws_charts(client, django_user_model, ledger):
    assert client.get(reverse("dashboard")).status_code == 302
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "pw-long-enough-1")
    client.force_login(boss)  # signed in with the password alone: not enough for the dashboard
    assert client.get(reverse("dashboard")).status_code == 302
    client.logout()
    staff_client(client, boss, "pw-long-enough-1")
    html = client.get(reverse("dashboard")).content.decode()
    assert html.count('<svg class="chart"') == 5 and "<rect" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing from a CDN
    assert reverse("dashboard") in client.get(reverse("admin:index")).content.decode()


def test_the_dashboard_shows_swaps_refused_before_signing(client, django_user_model, ledger):
    from custody import audit
    from custody.models import AuditEvent

    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "pw-long-enough-1")
    staff_client(client, boss, "pw-long-enough-1")
    assert 'id="swap-refusals"' not in client.get(reverse("dashboard")).content.decode()
    audit.record(AuditEvent.Action.SWAP_REFUSED, actor=audit.BOT, source="automatic", user=None, check="sol_transfer",
                 detail="it sends 9000000000 lamports of yours to an account that is not yours", side="buy",
                 mint="DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", amount=10**8)
    html = client.get(reverse("dashboard")).content.decode()
    assert 'id="swap-refusals"' in html and "sol_transfer" in html and "9000000000 lamports" in html
    assert "?action__exact=swap_refused" in html
