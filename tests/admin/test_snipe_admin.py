import pytest
from django.urls import reverse
from django.utils import timezone

from custody.services import get_or_create_user_wallet
from positions.models import Snipe, SnipeLaunch
from tests.admin.otp import staff_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    return staff_client(client, user, "a-long-password-1")  # with a real second factor, as staff sign in


def test_staff_see_skipped_launches_and_attempts_read_only(staff):
    wallet = get_or_create_user_wallet(3101, "sniper").wallet
    launch = SnipeLaunch.objects.create(token_mint="L" * 43, reason="freeze authority is set", users_affected=50,
                                        lamports=5 * 10**9, detected_at=timezone.now())
    attempt = Snipe.objects.create(user=wallet, token_mint="A" * 43, status="skipped",
                                   reason="above your maximum trade size", detected_at=timezone.now())
    launches = staff.get(reverse("admin:positions_snipelaunch_changelist")).content.decode()
    assert launch.token_mint in launches and "freeze authority is set" in launches and ">50<" in launches
    attempts = staff.get(reverse("admin:positions_snipe_changelist")).content.decode()
    assert attempt.token_mint in attempts and "above your maximum trade size" in attempts
    assert staff.get(reverse("admin:positions_snipelaunch_change", args=[launch.pk])).status_code == 200
    assert staff.post(reverse("admin:positions_snipelaunch_delete", args=[launch.pk])).status_code == 403
    assert SnipeLaunch.objects.filter(pk=launch.pk).exists()
