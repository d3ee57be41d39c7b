"""Writes for wallets and settings."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from solders.keypair import Keypair

from custody import audit
from kernel.config import TradingConfig, get_config
from wallets.crypto import Keyring, keyring_from_config
from wallets.models import UserSettings, UserWallet


@dataclass(frozen=True)
class WalletResult:
    wallet: UserWallet
    created: bool


def get_or_create_user_wallet(telegram_user_id: int, username: str = "", *, keyring: Keyring | None = None,
                              config: TradingConfig | None = None) -> WalletResult:
    """The user's wallet, created with settings from the config defaults on first use.

    Race-safe: two concurrent first calls for one user both return the one wallet the database kept (the unique
    telegram_user_id decides; the loser's fresh keypair is simply discarded, it never held funds).
    """
    username = (username or "")[:64]
    existing = UserWallet.objects.filter(telegram_user_id=telegram_user_id).first()
    if existing is not None:
        _refresh_username(existing, username)
        return WalletResult(existing, created=False)
    keyring = keyring or keyring_from_config()
    config = config or get_config()
    keypair = Keypair()
    try:
        with transaction.atomic():
            wallet = UserWallet.objects.create(
                telegram_user_id=telegram_user_id,
                telegram_username=username,
                public_key=str(keypair.pubkey()),
                encrypted_secret=keyring.seal(bytes(keypair)),
                key_fingerprint=keyring.primary_fingerprint,
            )
            create_default_settings(wallet=wallet, config=config)
    except IntegrityError:
        return WalletResult(UserWallet.objects.get(telegram_user_id=telegram_user_id), created=False)
    audit.record(audit.Action.WALLET_CREATED, actor=audit.trader(telegram_user_id, username), source=audit.TELEGRAM,
                 user=wallet, public_key=wallet.public_key)
    return WalletResult(wallet, created=True)


def create_default_settings(*, wallet: UserWallet, config: TradingConfig) -> UserSettings:
    limits = config.trading
    return UserSettings.objects.create(
        user=wallet,
        max_trade_size_lamports=limits.max_trade_size_lamports,
        daily_loss_limit_lamports=limits.max_daily_loss_lamports,
        slippage_bps=limits.default_slippage_bps,
        stop_loss_percentage=limits.stop_loss_percentage,
        take_profit_percentage=limits.take_profit_percentage,
        snipe_amount_lamports=limits.default_snipe_amount_lamports,
        priority_fee_lamports=limits.default_priority_fee_lamports,
    )


def set_frozen(*, wallets, frozen: bool, actor: str = "", source: str = "") -> int:
    """Freeze or unfreeze trading for the given wallets; returns how many changed (each change is audited)."""
    changing = list(wallets.exclude(is_frozen=frozen))
    changed = UserWallet.objects.filter(pk__in=[wallet.pk for wallet in changing]).update(is_frozen=frozen)
    for wallet in changing:
        audit.record(audit.Action.WALLET_FROZEN if frozen else audit.Action.WALLET_UNFROZEN, actor=actor or "unknown",
                     source=source or "unknown", user=wallet)
    return changed


def _refresh_username(wallet: UserWallet, username: str) -> None:
    if username and wallet.telegram_username != username:
        wallet.telegram_username = username
        wallet.save(update_fields=["telegram_username", "updated_at"])


SETTING_FIELDS = {
    "slippage": "slippage_bps",
    "max_trade": "max_trade_size_lamports",
    "daily_loss": "daily_loss_limit_lamports",
    "stop_loss": "stop_loss_percentage",
    "take_profit": "take_profit_percentage",
    "snipe_amount": "snipe_amount_lamports",
    "priority_fee": "priority_fee_lamports",
    "fee_level": "priority_fee_level",
    "snipe": "snipe_enabled",
    "confirm": "confirm_trades",
    "daily_spend": "daily_spend_limit_lamports",
    "buy_code_above": "buy_code_above_lamports",
    "buy_code_slippage": "buy_code_slippage_bps",
    "mev_protection": "mev_protection",
    "jito_tip": "jito_tip_lamports",
    "auto_buy": "auto_buy_lamports",
}


def update_setting(*, telegram_user_id: int, key: str, value) -> UserSettings:
    """Set one already-validated setting; ``key`` is one of SETTING_FIELDS."""
    field = SETTING_FIELDS[key]
    with transaction.atomic():
        settings = UserSettings.objects.select_for_update().get(user__telegram_user_id=telegram_user_id)
        before = getattr(settings, field)
        setattr(settings, field, value)
        settings.save(update_fields=[field, "updated_at"])
    _audit_setting(settings, key, before, value)
    return settings


def toggle_setting(*, telegram_user_id: int, key: str) -> UserSettings:
    field = SETTING_FIELDS[key]
    with transaction.atomic():
        settings = UserSettings.objects.select_for_update().get(user__telegram_user_id=telegram_user_id)
        before = getattr(settings, field)
        setattr(settings, field, not before)
        settings.save(update_fields=[field, "updated_at"])
    _audit_setting(settings, key, before, not before)
    return settings


def _audit_setting(settings: UserSettings, key: str, before, after) -> None:
    wallet = settings.user
    audit.record(audit.Action.SETTINGS_CHANGED, actor=audit.trader(wallet.telegram_user_id, wallet.telegram_username),
                 source=audit.TELEGRAM, user=wallet, setting=key, before=before, after=after)
