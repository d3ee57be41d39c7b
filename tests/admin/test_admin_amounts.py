"""Staff read and type SOL and percent in the admin, as traders do in Telegram; the rows keep lamports and basis
points. Through Django's test client on the real admin pages."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from custody.services import get_or_create_user_wallet
from tests.admin.otp import staff_client
from tests.admin.test_staff_limits import _settings_form
from wallets.models import UserSettings

pytestmark = pytest.mark.django_db
SOL = 10**9
PASSWORD = "a-long-password-1"


@pytest.fixture
def wallet(keyring):
    wallet = get_or_create_user_wallet(3401, "amounts", keyring=keyring).wallet
    UserSettings.objects.filter(user=wallet).update(max_trade_size_lamports=SOL, daily_loss_limit_lamports=SOL,
                                                    slippage_bps=100, priority_fee_lamports=100_000)
    wallet.settings.refresh_from_db()
    return wallet


@pytest.fixture
def boss(client, django_user_model):
    return staff_client(client, django_user_model.objects.create_superuser("boss", "b@example.com", PASSWORD),
                        PASSWORD)


@pytest.fixture
def clerk(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["wallets", "custody"]))
    return staff_client(client, user, PASSWORD)


def _page(wallet) -> str:
    return reverse("admin:wallets_usersettings_change", args=[wallet.settings.pk])


def test_the_settings_form_shows_sol_and_percent(boss, wallet):
    form = boss.get(_page(wallet)).context["adminform"].form
    page = boss.get(_page(wallet)).content.decode()
    assert form["max_trade_size_lamports"].value() == "1" and form.initial["max_trade_size_lamports"] == SOL
    assert 'name="priority_fee_lamports" value="0.0001"' in page and 'name="slippage_bps" value="1"' in page
    assert "Max trade size (SOL)" in page and "Slippage (%)" in page and "Priority fee (SOL)" in page
    assert "lamports" not in page.lower().replace("_lamports", "")


def test_a_superuser_types_sol_and_percent_and_integers_are_stored(boss, wallet):
    form = _settings_form(wallet.settings)
    form.update(max_trade_size_lamports="0.5", daily_loss_limit_lamports="0.25 SOL", slippage_bps="1.5%",
                priority_fee_lamports="0.0002", snipe_amount_lamports="0")
    response = boss.post(_page(wallet), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    settings = UserSettings.objects.get(user=wallet)
    assert (settings.max_trade_size_lamports, settings.daily_loss_limit_lamports, settings.slippage_bps,
            settings.priority_fee_lamports, settings.snipe_amount_lamports) == (SOL // 2, SOL // 4, 150, 200_000, 0)


@pytest.mark.parametrize(("field", "typed", "expected"), [
    ("max_trade_size_lamports", "1e9", "is not a plain number"),
    ("max_trade_size_lamports", "0", "must be more than zero"),
    ("max_trade_size_lamports", "0.0000000001", "more than 9 decimal places"),
    ("max_trade_size_lamports", "1,5", "is not a plain number"),
    ("daily_loss_limit_lamports", "-1", "must not be negative"),
    ("slippage_bps", "1.234", "At most two decimals"),
    ("slippage_bps", "NaN", "is not a plain number"),
    ("slippage_bps", "75", "above the maximum of 50%"),
    ("priority_fee_lamports", "0.5", "0.5 SOL is above the maximum of 0.01 SOL"),
])
def test_bad_amounts_are_refused_with_what_to_type_and_change_nothing(boss, wallet, field, typed, expected):
    before = UserSettings.objects.values().get(user=wallet)
    response = boss.post(_page(wallet), {**_settings_form(wallet.settings), field: typed})
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors[field]
    assert expected in error and ("Type" in error or "like" in error), error
    assert UserSettings.objects.values().get(user=wallet) == before


def test_staff_without_change_rights_read_sol_and_percent(clerk, wallet):
    for page in (_page(wallet), reverse("admin:wallets_userwallet_change", args=[wallet.pk])):
        text = clerk.get(page).content.decode()
        assert "Max trade size (SOL)" in text and "Slippage (%)" in text and "Priority fee (SOL)" in text, page
        assert "Max trade size lamports" not in text and "Slippage bps" not in text
        assert "0.0001" in text and "1000000000" not in text and "100000" not in text.replace("0.0001", "")


def test_the_list_and_the_export_read_sol_and_percent(clerk, wallet):
    listing = clerk.get(reverse("admin:wallets_usersettings_changelist")).content.decode()
    assert "Max trade size (SOL)" in listing and "Daily loss limit (SOL)" in listing and "Slippage (%)" in listing
    assert "1000000000" not in listing
    export = clerk.post(reverse("admin:wallets_usersettings_changelist"),
                        {"action": "export_csv", "_selected_action": [wallet.settings.pk]})
    header, row = export.content.decode().strip().splitlines()
    assert header.startswith("telegram_user_id,max_trade_size_sol,daily_loss_limit_sol,slippage_percent,")
    assert row.startswith("3401,1,1,1,")


def test_the_menu_names_allowed_addresses_and_skipped_launches(boss):
    index = boss.get(reverse("admin:index")).content.decode()
    assert "Allowed addresses" in index and "addresss" not in index
    assert "Skipped launches" in index and "launchs" not in index


def test_staff_see_the_traders_own_options_and_cannot_change_them(boss, wallet):
    """MEV protection, its tip, the fee level and auto-buy are the trader's to set (turning one on is a loosening
    under the trader's own safety delay): shown to staff, in SOL, never a form field, even for a superuser."""
    UserSettings.objects.filter(user=wallet).update(mev_protection=True, jito_tip_lamports=200_000,
                                                    auto_buy_lamports=SOL // 10, priority_fee_level="fast")
    page = boss.get(_page(wallet))
    text = page.content.decode()
    assert "MEV tip (SOL)" in text and "0.0002" in text and "Auto-buy on paste (SOL)" in text and "0.1" in text
    assert not {"mev_protection", "jito_tip_lamports", "auto_buy_lamports", "priority_fee_level", "paper_mode"} & set(
        page.context["adminform"].form.fields)
    export = boss.post(reverse("admin:wallets_usersettings_changelist"),
                       {"action": "export_csv", "_selected_action": [wallet.settings.pk]})
    header, row = export.content.decode().strip().splitlines()
    assert header.endswith(",priority_fee_level,mev_protection,jito_tip_sol,auto_buy_sol,paper_mode")
    assert row.endswith(",fast,True,0.0002,0.1,False")
