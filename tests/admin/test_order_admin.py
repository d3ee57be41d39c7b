import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from custody.models import AuditEvent, Notice
from custody.services import get_or_create_user_wallet
from positions.models import Order
from telegrambot import texts
from tests.admin.otp import staff_client

pytestmark = pytest.mark.django_db
MINT = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    return staff_client(client, user, "a-long-password-1")


def _order(wallet, **fields) -> Order:
    return Order.objects.create(user=wallet, token_mint=MINT, token_decimals=6, kind="limit_buy", trigger_num=1,
                                trigger_den=2, trigger_text="mcap 500", lamports=10**8, **fields)


def test_staff_list_filter_and_cancel_active_orders_audited_and_nothing_else(staff):
    wallet = get_or_create_user_wallet(3201, "trader").wallet
    active, firing = _order(wallet), _order(wallet, status="firing")
    url = reverse("admin:positions_order_changelist")
    listing = staff.get(url, {"status__exact": "active"}).content.decode()
    assert "mcap 500" in listing and f"/{active.pk}/" in listing and f"/{firing.pk}/" not in listing
    page = staff.get(reverse("admin:positions_order_change", args=[active.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content  # read-only
    staff.post(url, {"action": "cancel_orders", "_selected_action": [active.pk, firing.pk]})
    assert Order.objects.get(pk=active.pk).status == "cancelled"
    assert Order.objects.get(pk=firing.pk).status == "firing"  # trading right now: not called back
    event = AuditEvent.objects.get(action="staff_change", detail__order=active.pk)
    assert event.actor == "staff boss" and event.user_id == wallet.pk
    assert LogEntry.objects.filter(object_id=str(active.pk)).count() == 1
    assert staff.post(reverse("admin:positions_order_delete", args=[active.pk])).status_code == 403
    # the trader is told, once, by the bot process (custody.notices): only of the order that was cancelled
    notice = Notice.objects.get(telegram_user_id=wallet.telegram_user_id)
    assert notice.kind == "order_cancelled" and notice.detail["order"] == active.pk
    told = texts.staff_notice(notice.kind, notice.detail)
    assert f"Staff cancelled your order #{active.pk}" in told and "mcap 500" in told and "Nothing was traded" in told
