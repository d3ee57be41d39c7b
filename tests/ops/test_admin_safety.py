import subprocess
import sys
from io import StringIO

import pyotp
import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.models import AuditEvent
from custody.services import get_or_create_user_wallet
from kernel.config import BASE_DIR
from tests.admin.otp import enrol, fresh_code, sign_in, staff_client

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
    app = enrol("staff")
    url = reverse("admin-login")
    for _ in range(3):
        client.post(url, {"username": "staff", "password": "wrong"})
    assert sign_in(client, "staff", "right-password-123", app).status_code == 302


def test_wrong_authenticator_codes_count_towards_the_throttle(client, django_user_model):
    django_user_model.objects.create_superuser("staff", "s@example.com", "right-password-123")
    app = enrol("staff")
    url = reverse("admin-login")
    for _ in range(5):
        client.post(url, {"username": "staff", "password": "right-password-123", "otp_token": "000000"})
    assert sign_in(client, "staff", "right-password-123", app).status_code == 429


def test_admin_sign_in_needs_a_code_from_the_staff_members_authenticator(client, django_user_model, settings):
    # django-otp also slows down codes after a wrong one (1 s, 2 s, 4 s...): off here, so that the right code typed
    # straight after the wrong one is judged on the code alone, whatever the machine's speed.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    django_user_model.objects.create_superuser("boss", "b@example.com", "right-password-123")
    app = enrol("boss")
    login = reverse("admin:login")
    password_only = client.post(login, {"username": "boss", "password": "right-password-123", "next": "/admin/"})
    assert password_only.status_code == 200 and "Type the 6-digit code" in password_only.content.decode()
    assert "_auth_user_id" not in client.session
    code = fresh_code("boss", app)
    wrong = client.post(login, {"username": "boss", "password": "right-password-123",
                                "otp_token": f"{(int(code) + 1) % 10**6:06d}"})
    assert "wrong or was already used" in wrong.content.decode() and "_auth_user_id" not in client.session
    assert client.post(login, {"username": "boss", "password": "right-password-123", "otp_token": code,
                               "next": "/admin/"}).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    client.logout()
    replayed = client.post(login, {"username": "boss", "password": "right-password-123", "otp_token": code})
    assert "wrong or was already used" in replayed.content.decode()  # a code works once
    reasons = list(AuditEvent.objects.filter(action="staff_login_failed").order_by("pk")
                   .values_list("detail__reason", flat=True))
    assert reasons == ["authenticator: token_required", "authenticator: invalid_token",
                       "authenticator: invalid_token"]


def test_a_password_only_session_or_an_account_without_an_authenticator_is_kept_out(client, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "right-password-123")
    client.force_login(boss)  # password checked, no second factor
    for page in (reverse("admin:index"), reverse("admin:wallets_userwallet_changelist"), reverse("dashboard")):
        response = client.get(page)
        assert response.status_code == 302 and "/login/" in response["Location"], page
    client.logout()
    no_device = client.post(reverse("admin:login"), {"username": "boss", "password": "right-password-123",
                                                     "otp_token": "123456"})
    assert "no authenticator enrolled" in no_device.content.decode() and "staff_otp add" in no_device.content.decode()


def test_operators_enrol_staff_authenticators_and_the_key_is_shown_once(client, django_user_model,
                                                                        no_secret_in_any_log):
    django_user_model.objects.create_superuser("boss", "b@example.com", "right-password-123")
    django_user_model.objects.create_user("trader", password="right-password-123")
    out = StringIO()
    call_command("staff_otp", "add", "boss", stdout=out)
    uri = out.getvalue().strip().splitlines()[-1]
    secret = pyotp.parse_uri(uri).secret
    assert uri.startswith("otpauth://totp/") and "issuer=Solana%20trading%20bot%20admin" in uri
    for line in no_secret_in_any_log.lines:
        assert secret not in line and uri not in line
    listed = StringIO()
    call_command("staff_otp", "list", stdout=listed)
    assert "boss" in listed.getvalue() and secret not in listed.getvalue()
    with pytest.raises(CommandError, match="already has an authenticator"):
        call_command("staff_otp", "add", "boss", stdout=StringIO())
    with pytest.raises(CommandError, match="not a staff account"):
        call_command("staff_otp", "add", "trader", stdout=StringIO())
    with pytest.raises(CommandError, match="no account named"):
        call_command("staff_otp", "add", "nobody", stdout=StringIO())
    # Staff see that a device exists, never its key (not even a superuser, not even as a QR code).
    staff_client(client, django_user_model.objects.create_superuser("root", "r@example.com", "pw-long-enough-1"),
                 "pw-long-enough-1")
    device = TOTPDevice.objects.get(user__username="boss")
    for page in (reverse("admin:otp_totp_totpdevice_changelist"),
                 reverse("admin:otp_totp_totpdevice_change", args=[device.pk])):
        body = client.get(page).content.decode()
        assert "boss" in body and secret not in body and device.key not in body
    assert client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403
    enrolled = AuditEvent.objects.filter(action="staff_otp_added").order_by("pk")
    assert list(enrolled.values_list("detail__staff", flat=True)) == ["boss", "root"]
    removed = StringIO()
    call_command("staff_otp", "remove", "boss", stdout=removed)
    assert "Removed 1" in removed.getvalue() and not TOTPDevice.objects.filter(user__username="boss").exists()


def test_freeze_records_who_and_when(client, django_user_model):
    boss = django_user_model.objects.create_superuser("boss2", "b2@example.com", "right-password-123")
    staff_client(client, boss, "right-password-123")
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
