"""Staff cannot quietly weaken a user's protection: risk settings are read-only for staff who are not superusers
(a forged form is refused, audited, and changes nothing), superusers stay under the operator's maxima, and every
change is audited with its values before and after."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from custody.admin.wallets import ONLY_SUPERUSERS, RISK_FIELDS, UserSettingsForm
from custody.models import AuditEvent
from custody.services import get_or_create_user_wallet
from kernel.config import get_config
from kernel.display import sol
from tests.admin.otp import staff_client
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db
SOL = 10**9
PASSWORD = "a-long-password-1"


@pytest.fixture
def wallet(keyring):
    return get_or_create_user_wallet(3301, "limits", keyring=keyring).wallet


@pytest.fixture
def clerk(client, django_user_model):
    """Staff with every permission on wallets and settings, but not a superuser."""
    user = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="wallets"))
    return staff_client(client, user, PASSWORD)


@pytest.fixture
def boss(client, django_user_model):
    return staff_client(client, django_user_model.objects.create_superuser("boss", "b@example.com", PASSWORD),
                        PASSWORD)


def _settings_form(settings: UserSettings, **changes) -> dict:
    """The form as staff fill it in: stored values (and ``changes``, in stored units) typed in SOL and percent."""
    values = {field: getattr(settings, field) for field in RISK_FIELDS}
    values.update(changes)
    form = {field: ("" if value is None else UserSettingsForm.base_fields[field].prepare_value(value))
            for field, value in values.items() if not isinstance(value, bool)}
    form.update({field: "on" for field, value in values.items() if value is True})
    return form


def _inline_form(wallet, **changes) -> dict:
    form = {"telegram_username": wallet.telegram_username, "settings-TOTAL_FORMS": "1",
            "settings-INITIAL_FORMS": "1", "settings-MIN_NUM_FORMS": "0", "settings-MAX_NUM_FORMS": "1",
            "settings-0-id": wallet.settings.pk, "settings-0-user": wallet.pk}
    form.update({f"settings-0-{key}": value for key, value in _settings_form(wallet.settings, **changes).items()})
    return form


def _snapshot(wallet) -> dict:
    return {field: getattr(UserSettings.objects.get(user=wallet), field) for field in RISK_FIELDS}


THE_ATTACK = {"slippage_bps": 10_000, "snipe_enabled": True, "snipe_amount_lamports": 1_000 * SOL}


def test_staff_who_are_not_superusers_cannot_change_risk_settings(clerk, wallet):
    before = _snapshot(wallet)
    page = reverse("admin:wallets_usersettings_change", args=[wallet.settings.pk])
    shown = clerk.get(page)
    assert shown.status_code == 200 and 'name="slippage_bps"' not in shown.content.decode()  # read-only

    refused = clerk.post(page, _settings_form(wallet.settings, **THE_ATTACK))
    assert refused.status_code == 403
    inline = clerk.post(reverse("admin:wallets_userwallet_change", args=[wallet.pk]), _inline_form(wallet,
                                                                                                   **THE_ATTACK))
    assert inline.status_code == 403
    assert _snapshot(wallet) == before
    rows = AuditEvent.objects.filter(action="staff_change_refused", user=wallet).order_by("pk")
    assert [row.actor for row in rows] == ["staff clerk", "staff clerk"]
    assert "slippage_bps" in rows[0].detail["fields"] and "snipe_amount_lamports" in rows[1].detail["fields"]
    assert not AuditEvent.objects.filter(action="staff_change", user=wallet).exists()
    assert ONLY_SUPERUSERS.startswith("Only a superuser")

    # The rest of the wallet page still works for them: renaming without touching settings is fine.
    renamed = clerk.post(reverse("admin:wallets_userwallet_change", args=[wallet.pk]),
                         {key: value for key, value in _inline_form(wallet).items()
                          if key.rsplit("-", 1)[-1] not in RISK_FIELDS} | {"telegram_username": "renamed"})
    assert renamed.status_code == 302
    assert _snapshot(wallet) == before


def test_a_superuser_cannot_go_above_the_operators_maxima(boss, wallet):
    before = _snapshot(wallet)
    limits = get_config().trading
    page = reverse("admin:wallets_usersettings_change", args=[wallet.settings.pk])
    response = boss.post(page, _settings_form(wallet.settings, **THE_ATTACK))
    assert response.status_code == 200  # the form again, with the reasons
    errors = response.context["adminform"].form.errors
    assert errors["slippage_bps"][0] == "100% is above the maximum of 50% (the bot's limit). Type at most 50%."
    assert errors["snipe_amount_lamports"][0].startswith(
        f"1000 SOL is above the maximum of {sol(limits.max_trade_size_lamports)} (")
    assert "MAX_POSITION_SIZE_SOL" in errors["snipe_amount_lamports"][0]
    too_big_trade = boss.post(page, _settings_form(wallet.settings,
                                                   max_trade_size_lamports=limits.max_trade_size_lamports + 1))
    assert "MAX_POSITION_SIZE_SOL" in too_big_trade.context["adminform"].form.errors["max_trade_size_lamports"][0]
    inline = boss.post(reverse("admin:wallets_userwallet_change", args=[wallet.pk]),
                       _inline_form(wallet, daily_loss_limit_lamports=limits.max_daily_loss_lamports + 1))
    assert inline.status_code == 200 and "MAX_DAILY_LOSS_SOL" in inline.content.decode()
    assert _snapshot(wallet) == before
    assert not AuditEvent.objects.filter(action="staff_change", user=wallet).exists()


def test_a_superusers_change_within_the_maxima_is_audited_with_before_and_after(boss, wallet):
    old = wallet.settings.slippage_bps
    page = reverse("admin:wallets_usersettings_change", args=[wallet.settings.pk])
    response = boss.post(page, _settings_form(wallet.settings, slippage_bps=250, snipe_enabled=True))
    assert response.status_code == 302
    assert _snapshot(wallet)["slippage_bps"] == 250
    row = AuditEvent.objects.filter(action="staff_change", user=wallet).latest("id")
    assert row.actor == "staff boss" and row.detail["model"] == "wallets.UserSettings"
    assert row.detail["changes"] == {"slippage_bps": {"before": old, "after": 250},
                                     "snipe_enabled": {"before": False, "after": True}}


def test_staff_may_freeze_but_only_a_superuser_unfreezes(clerk, wallet):
    changelist = reverse("admin:wallets_userwallet_changelist")
    clerk.post(changelist, {"action": "freeze_trading", "_selected_action": [wallet.pk]})
    wallet.refresh_from_db()
    assert wallet.is_frozen
    refused = clerk.post(changelist, {"action": "unfreeze_trading", "_selected_action": [wallet.pk]}, follow=True)
    assert "Only a superuser can unfreeze trading" in refused.content.decode()
    wallet.refresh_from_db()
    assert wallet.is_frozen
    row = AuditEvent.objects.filter(action="staff_change_refused", user=wallet).get()
    assert row.actor == "staff clerk" and row.detail["fields"] == "is_frozen"
    # The form does not offer the box either: posting it unticked changes nothing.
    form = {key: value for key, value in _inline_form(wallet).items() if key.rsplit("-", 1)[-1] not in RISK_FIELDS}
    assert clerk.post(reverse("admin:wallets_userwallet_change", args=[wallet.pk]), form).status_code == 302
    wallet.refresh_from_db()
    assert wallet.is_frozen
