import base64

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from solders.keypair import Keypair

from custody.admin.amounts import in_sol
from custody.services import get_or_create_user_wallet
from positions.models import Position, Trade
from tests.admin.otp import staff_client
from wallets.models import UserWallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet():
    wallet = get_or_create_user_wallet(3001, "staffview").wallet
    position = Position.objects.create(user=wallet, token_mint="M" * 43, token_decimals=6, entry_amount_raw=10,
                                       remaining_amount_raw=10, entry_cost_lamports=5, remaining_cost_lamports=5)
    Trade.objects.create(user=wallet, position=position, token_mint=position.token_mint, token_decimals=6,
                         side="buy", status="confirmed", signature="5igsig", lamports_in=5, amount_out_raw=10,
                         last_valid_block_height=100)
    return wallet


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    return staff_client(client, user, "a-long-password-1")


def _secret_encodings(wallet, keyring) -> list[str]:
    secret = keyring.open(wallet.encrypted_secret)
    return [str(Keypair.from_bytes(secret)), secret.hex(), base64.b64encode(secret).decode(), secret[:32].hex(),
            base64.b64encode(secret[:32]).decode(), str(list(secret[:8]))[1:-1], wallet.encrypted_secret]


def _pages(wallet) -> list[str]:
    position = wallet.positions.get()
    trade = wallet.trades.get()
    return [
        reverse("admin:index"),
        reverse("admin:wallets_userwallet_changelist"),
        reverse("admin:wallets_userwallet_changelist") + f"?q={wallet.public_key}",
        reverse("admin:wallets_userwallet_changelist") + "?is_frozen__exact=0",
        reverse("admin:wallets_userwallet_change", args=[wallet.pk]),
        reverse("admin:wallets_userwallet_history", args=[wallet.pk]),
        reverse("admin:wallets_usersettings_changelist"),
        reverse("admin:wallets_usersettings_change", args=[wallet.settings.pk]),
        reverse("admin:positions_position_changelist"),
        reverse("admin:positions_position_change", args=[position.pk]),
        reverse("admin:positions_trade_changelist"),
        reverse("admin:positions_trade_changelist") + "?status__exact=confirmed",
        reverse("admin:positions_trade_change", args=[trade.pk]),
    ]


def test_every_admin_page_renders_and_shows_no_secret(staff, wallet, keyring):
    secrets = _secret_encodings(wallet, keyring)
    for url in _pages(wallet):
        response = staff.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for secret in secrets:
            assert secret not in html, url
    assert wallet.public_key in staff.get(_pages(wallet)[1]).content.decode()


def test_exports_carry_public_data_only(staff, wallet, keyring):
    secrets = _secret_encodings(wallet, keyring)
    wallets_csv = staff.post(reverse("admin:wallets_userwallet_changelist"),
                             {"action": "export_csv", "_selected_action": [wallet.pk]})
    trades_csv = staff.post(reverse("admin:positions_trade_changelist"),
                            {"action": "export_csv", "_selected_action": [wallet.trades.get().pk]})
    for response in (wallets_csv, trades_csv):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv"
        body = response.content.decode()
        assert all(secret not in body for secret in secrets)
    assert wallet.public_key in wallets_csv.content.decode()
    assert "5igsig" in trades_csv.content.decode()
    header, row = trades_csv.content.decode().strip().splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["sol_in"] == "0.000000005"  # SOL, exactly


def test_freeze_and_unfreeze_are_recorded_in_history(staff, wallet):
    url = reverse("admin:wallets_userwallet_changelist")
    staff.post(url, {"action": "freeze_trading", "_selected_action": [wallet.pk]})
    assert UserWallet.objects.get(pk=wallet.pk).is_frozen
    staff.post(url, {"action": "unfreeze_trading", "_selected_action": [wallet.pk]})
    assert not UserWallet.objects.get(pk=wallet.pk).is_frozen
    assert LogEntry.objects.filter(object_id=str(wallet.pk)).count() == 2


def test_saving_a_wallet_from_the_admin_keeps_its_secret(staff, wallet):
    sealed = wallet.encrypted_secret
    url = reverse("admin:wallets_userwallet_change", args=[wallet.pk])
    settings = wallet.settings
    form = {"telegram_username": "renamed", "is_frozen": "on", "settings-TOTAL_FORMS": "1",
            "settings-INITIAL_FORMS": "1", "settings-MIN_NUM_FORMS": "0", "settings-MAX_NUM_FORMS": "1",
            "settings-0-id": settings.pk, "settings-0-user": wallet.pk,
            "settings-0-max_trade_size_lamports": in_sol(settings.max_trade_size_lamports),
            "settings-0-daily_loss_limit_lamports": in_sol(settings.daily_loss_limit_lamports),
            "settings-0-slippage_bps": "3", "settings-0-snipe_amount_lamports": in_sol(settings.snipe_amount_lamports),
            "settings-0-priority_fee_lamports": in_sol(settings.priority_fee_lamports)}  # staff type SOL and %
    response = staff.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    wallet.refresh_from_db()
    assert wallet.is_frozen and wallet.telegram_username == "renamed"
    assert wallet.encrypted_secret == sealed
    assert wallet.settings.slippage_bps == 300


def test_ledger_cannot_be_edited_or_deleted(staff, wallet):
    trade = wallet.trades.get()
    assert staff.post(reverse("admin:positions_trade_delete", args=[trade.pk])).status_code == 403
    assert Trade.objects.filter(pk=trade.pk).exists()
    assert staff.get(reverse("admin:wallets_userwallet_add")).status_code == 403


def test_admin_is_staff_only(client, wallet):
    response = client.get(reverse("admin:wallets_userwallet_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_lists_and_ledger_pages_read_sol(staff, wallet):
    Trade.objects.filter(user=wallet).update(lamports_in=250_000_000)
    Position.objects.filter(user=wallet).update(remaining_cost_lamports=250_000_000)
    for page in (reverse("admin:positions_trade_changelist"), reverse("admin:positions_position_changelist"),
                 reverse("admin:positions_position_change", args=[wallet.positions.get().pk]),
                 reverse("admin:positions_trade_change", args=[wallet.trades.get().pk])):
        text = staff.get(page).content.decode()
        assert "0.25" in text and "250000000" not in text, page
        assert "(SOL)" in text or "SOL in" in text, page
