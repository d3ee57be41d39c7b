import subprocess
import sys

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from tradingbot.config import BASE_DIR
from wallets.services import get_or_create_user_wallet

pytestmark = pytest.mark.django_db


def test_repeated_failed_logins_are_throttled_and_a_good_one_is_refused_meanwhile(client, django_user_model):
    django_user_model.objects.create_superuser("boss", "b@example.com", "right-password-123")
    url = reverse("admin-login")
    for _ in range(5):
        assert client.post(url, {"username": "boss", "password": "wrong"}).status_code == 200
    refused = client.post(url, {"username": "boss", "password": "right-password-123"})
    assert refused.status_code == 429 and "15 minutes" in refused.content.decode()
    other = client.post(url, {"username": "someone-else", "password": "x"})
    assert other.status_code == 200  # another account from the same address is not locked out


def test_a_good_login_resets_the_counter(client, django_user_model):
    django_user_model.objects.create_superuser("staff", "s@example.com", "right-password-123")
    url = reverse("admin-login")
    for _ in range(3):
        client.post(url, {"username": "staff", "password": "wrong"})
    assert client.post(url, {"username": "staff", "password": "right-password-123"}).status_code == 302


def test_freeze_records_who_and_when(client, django_user_model):
    boss = django_user_model.objects.create_superuser("boss2", "b2@example.com", "right-password-123")
    client.force_login(boss)
    wallet = get_or_create_user_wallet(91, "w").wallet
    client.post(reverse("admin:wallets_userwallet_changelist"),
                {"action": "freeze_trading", "_selected_action": [wallet.pk]})
    entry = LogEntry.objects.get(object_id=str(wallet.pk))
    assert entry.user == boss and entry.action_time is not None


def test_check_deploy_is_clean_with_production_settings():
    env = {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": "/dev/null", "DEBUG": "false",
           "SECRET_KEY": "k3y-" + "x7Qm2pL9vR4tW8zN1cF6hJ0sD5gB3aY" * 2, "ALLOWED_HOSTS": "bot.example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
