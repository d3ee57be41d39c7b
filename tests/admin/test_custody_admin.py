"""Custody pages in the admin: read-only audit log with exports, kill switches audited, delayed withdrawals held
and released by staff, second factors shown without their secret."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from custody import totp
from custody.models import AuditEvent, KillSwitch, SecondFactor
from custody.services import get_or_create_user_wallet
from tests.admin.otp import enrol, fresh_code, sign_in, staff_client
from wallets.models import Withdrawal

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    return staff_client(client, user, "a-long-password-1")


@pytest.fixture
def wallet(keyring):
    wallet = get_or_create_user_wallet(3101, "custodyview", keyring=keyring).wallet
    return wallet


def test_custody_pages_render_and_never_show_the_totp_secret(staff, wallet, keyring):
    secret = totp.new_secret()
    factor = SecondFactor.objects.create(user=wallet, encrypted_secret=keyring.seal(secret),
                                         key_fingerprint=keyring.primary_fingerprint, confirmed_at=timezone.now())
    scheduled = Withdrawal.objects.create(user=wallet, destination="D" * 44, lamports=5, status="scheduled",
                                          execute_after=timezone.now())
    KillSwitch.objects.create(action="buys")
    pages = [reverse(f"admin:custody_{name}_changelist") for name in
             ("auditevent", "killswitch", "secondfactor", "allowedaddress", "withdrawalpolicy")]
    pages += [reverse("admin:custody_secondfactor_change", args=[factor.pk]),
              reverse("admin:wallets_withdrawal_changelist"),
              reverse("admin:wallets_withdrawal_change", args=[scheduled.pk]),
              reverse("admin:custody_killswitch_add")]
    forbidden = [totp.base32(secret), secret.hex(), factor.encrypted_secret]
    for page in pages:
        response = staff.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        assert not any(value in body for value in forbidden), page


def test_the_audit_log_is_read_only_and_exports(staff, wallet):
    event = AuditEvent.objects.filter(user=wallet, action="wallet_created").get()
    assert staff.get(reverse("admin:custody_auditevent_change", args=[event.pk])).status_code == 200
    assert staff.post(reverse("admin:custody_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    changelist = reverse("admin:custody_auditevent_changelist")
    exported = staff.post(changelist, {"action": "export_json", "_selected_action": [event.pk]})
    assert json.loads(exported.content)[0]["action"] == "wallet_created"
    csv_export = staff.post(changelist, {"action": "export_csv", "_selected_action": [event.pk]})
    assert b"wallet_created" in csv_export.content


def test_staff_kill_switch_and_withdrawal_hold_are_audited(staff, wallet):
    staff.post(reverse("admin:custody_killswitch_add"), {"action": "withdrawals", "user": "", "reason": "drill"})
    switch = KillSwitch.objects.get(action="withdrawals")
    assert switch.created_by == "staff boss"
    staff.post(reverse("admin:custody_killswitch_delete", args=[switch.pk]), {"post": "yes"})
    assert not KillSwitch.objects.exists()
    scheduled = Withdrawal.objects.create(user=wallet, destination="D" * 44, lamports=5, status="scheduled",
                                          execute_after=timezone.now())
    changelist = reverse("admin:wallets_withdrawal_changelist")
    staff.post(changelist, {"action": "hold", "_selected_action": [scheduled.pk]})
    scheduled.refresh_from_db()
    assert scheduled.held_at is not None and scheduled.held_by == "staff boss"
    staff.post(changelist, {"action": "cancel", "_selected_action": [scheduled.pk]})
    scheduled.refresh_from_db()
    assert scheduled.status == "cancelled"
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "actor"))
    assert ("kill_switch_on", "staff boss") in actions and ("kill_switch_off", "staff boss") in actions
    assert ("withdrawal_held", "staff boss") in actions and ("withdrawal_cancelled", "staff boss") in actions
    assert AuditEvent.objects.filter(action="withdrawal_held").get().source.startswith("admin ")


def test_staff_logins_are_audited(client, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    app = enrol("boss")
    client.post(reverse("admin:login"), {"username": "boss", "password": "wrong", "next": "/admin/"})
    client.post(reverse("admin:login"), {"username": "boss", "password": "a-long-password-1", "next": "/admin/"})
    assert sign_in(client, "boss", "a-long-password-1", app).status_code == 302
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-4:] == ["staff_otp_added", "staff_login_failed", "staff_login_failed", "staff_login"]
    no_code = AuditEvent.objects.filter(action="staff_login_failed").order_by("pk").last()
    assert no_code.detail == {"reason": "authenticator: token_required"} and no_code.actor == "someone as 'boss'"
    assert "a-long-password-1" not in json.dumps(list(AuditEvent.objects.values("detail", "actor")))
    # A password typed into the username box is not written down either.
    client.logout()
    client.post(reverse("admin:login"), {"username": "a-long-password-1", "password": "x", "next": "/admin/"})
    failed = AuditEvent.objects.filter(action="staff_login_failed").latest("id")
    assert failed.actor == "someone with an unknown username" and "a-long-password-1" not in failed.actor


def test_staff_edits_through_inlines_passwords_and_bulk_deletes_are_audited(staff, wallet, django_user_model):
    """Each path the admin writes through leaves one staff_change row naming the fields with their values before and
    after, except secrets (a password is "withheld")."""
    from django.contrib.auth.models import Group

    page = reverse("admin:wallets_userwallet_change", args=[wallet.pk])
    form = staff.get(page).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "is_frozen"}
    for formset in staff.get(page).context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({f"{formset.formset.prefix}-{key}": value for key, value in management.initial.items()})
        for inline_form in formset.formset.forms:
            for name, field in inline_form.fields.items():
                value = inline_form.initial.get(name, field.initial)
                if value is not None and not isinstance(value, bool):
                    data[inline_form.add_prefix(name)] = field.prepare_value(value)  # as the page shows it
                elif value:
                    data[inline_form.add_prefix(name)] = "on"
            data[inline_form.add_prefix("max_trade_size_lamports")] = "0.123"  # staff type SOL
    response = staff.post(page, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    change = AuditEvent.objects.filter(action="staff_change", user=wallet).latest("id")
    assert "Max trade size (SOL)" in change.detail["fields"]
    before = wallet.settings.max_trade_size_lamports
    assert change.detail["changes"] == {"settings.max_trade_size_lamports": {"before": before, "after": 123_000_000}}

    clerk = django_user_model.objects.create_user("clerk", password="first-password-1")
    password_page = reverse("admin:auth_user_password_change", args=[clerk.pk])
    new = "a-new-password-22"
    assert staff.post(password_page, {"password1": new, "password2": new}).status_code == 302
    row = AuditEvent.objects.filter(action="staff_change", detail__model="auth.User").latest("id")
    assert row.detail["object"] == clerk.pk and "password" in row.detail["fields"]
    assert new not in json.dumps(row.detail) and row.actor == "staff boss"
    assert row.detail["changes"] == {"password": "withheld"}

    groups = [Group.objects.create(name=f"desk {n}") for n in range(2)]
    staff.post(reverse("admin:auth_group_changelist"),
               {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"})
    assert not Group.objects.exists()
    deleted = AuditEvent.objects.filter(action="staff_change", detail__model="auth.Group",
                                        detail__operation="delete")
    assert sorted(deleted.values_list("detail__object", flat=True)) == sorted(g.pk for g in groups)


def test_the_audit_log_records_the_client_address_behind_a_trusted_proxy_only(client, django_user_model, settings):
    django_user_model.objects.create_superuser("proxied", "p@example.com", "a-long-password-1")
    login = reverse("admin:login")
    credentials = {"username": "proxied", "password": "a-long-password-1"}
    app = enrol("proxied")
    settings.TRUSTED_PROXIES = frozenset({"10.9.9.9"})
    credentials["otp_token"] = fresh_code("proxied", app)
    client.post(login, credentials, REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5")
    behind_proxy = AuditEvent.objects.filter(action="staff_login").latest("id")
    assert behind_proxy.source == "admin 203.0.113.5"  # the right-most address the trusted proxy saw
    client.logout()
    credentials["otp_token"] = fresh_code("proxied", app)
    client.post(login, credentials, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.99")
    direct = AuditEvent.objects.filter(action="staff_login").latest("id")
    assert direct.source == "admin 192.0.2.1"  # not from the proxy: the header is anyone's to forge
