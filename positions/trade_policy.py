"""Trading is a way out too: the same safety delay guards the settings that let value leave through trades.

When the trader has protection on (a second factor, the allow-list or the large-withdrawal delay), loosening a
trading setting (more slippage, a larger maximum trade, a larger snipe, sniping on, confirmations off, a higher
daily spend cap, a higher code threshold, MEV protection off, auto-buy on or larger) waits
``allowlist_delay_seconds``, exactly like loosening withdrawal protection (custody.policy); until then the old value
stays in force and the change can be cancelled. Tightening applies at once and replaces a pending loosening of the
same setting. Without protection, every change is at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from custody import audit, second_factor
from custody.errors import SettingRefused
from custody.models import PendingSettingChange
from custody.policy import is_protected
from custody.services import SETTING_FIELDS
from kernel.config import TradingConfig
from positions.paper import is_paper
from positions.risk import daily_spend_cap_lamports, max_trade_lamports, slippage_bps, spent_last_24_hours
from wallets.errors import WalletNotFound
from wallets.models import UserSettings, UserWallet


def _higher(before, after) -> bool:
    """A larger number is looser; None means no limit at all, the loosest."""
    if after is None:
        return before is not None
    return before is not None and after > before


LOOSENS: dict[str, Callable[[object, object], bool]] = {
    "slippage": _higher,
    "max_trade": _higher,
    "snipe_amount": _higher,
    "daily_spend": _higher,  # empty = the operator's cap, the most allowed
    "daily_loss": lambda before, after: _higher(before or None, after or None),  # 0 = the operator's limit
    "buy_code_above": _higher,  # empty = never ask
    "buy_code_slippage": _higher,
    "snipe": lambda before, after: bool(after) and not before,
    "confirm": lambda before, after: bool(before) and not after,
    # Off exposes every large trade to sandwichers again, up to the slippage (whose loosening waits too). The tip is
    # a cost like the priority fee, bounded at 0.01 SOL and paid to validators, so it changes at once like that fee.
    "mev_protection": lambda before, after: bool(before) and not after,
    # Auto-buy lets a pasted text spend without a button press: on, or a larger amount, is a loosening; off is not.
    "auto_buy": lambda before, after: after is not None and (before is None or after > before),
}


@dataclass(frozen=True)
class SettingChange:
    key: str
    before: object
    value: object
    effective_at: datetime | None  # None: in force now


@dataclass(frozen=True)
class SettingsView:
    settings: UserSettings
    pending: list[PendingSettingChange]
    applied: list[SettingChange]  # delayed changes that came due just now (the trader is told once)
    two_factor: bool
    spend_cap_lamports: int
    spent_lamports: int
    max_slippage_bps: int


def change_setting(*, telegram_user_id: int, key: str, value, now: datetime, config: TradingConfig,
                   source: str) -> SettingChange:
    """Set one parsed setting: refused beyond the operator's limits, delayed when it loosens protection, at once
    otherwise. ``key`` is one of custody.services.SETTING_FIELDS."""
    wallet = _wallet(telegram_user_id)
    _check_operator_limits(wallet, key, value, config, source)
    field = SETTING_FIELDS[key]
    with transaction.atomic():
        # The settings row lock serializes this with applying due changes and with other requests of this user.
        settings = UserSettings.objects.select_for_update().get(user=wallet)
        applied = _apply_due_locked(settings, now)
        before = getattr(settings, field)
        if key in LOOSENS and LOOSENS[key](before, value) and is_protected(wallet, now):
            effective = now + timedelta(seconds=config.custody.allowlist_delay_seconds)
            PendingSettingChange.objects.update_or_create(
                user=wallet, setting=key, defaults={"value": value, "requested_at": now, "effective_at": effective})
            change = SettingChange(key, before, value, effective)
            replaced = False
        else:
            replaced = PendingSettingChange.objects.filter(user=wallet, setting=key).delete()[0] > 0
            setattr(settings, field, value)
            settings.save(update_fields=[field, "updated_at"])
            change = SettingChange(key, before, value, None)
    _audit_applied(wallet, applied)
    actor = _actor(wallet)
    if change.effective_at is not None:
        audit.record(audit.Action.SETTING_CHANGE_DELAYED, actor=actor, source=source, user=wallet, setting=key,
                     before=before, after=value, effective=change.effective_at.isoformat())
        return change
    if replaced:
        audit.record(audit.Action.SETTING_CHANGE_CANCELLED, actor=actor, source=source, user=wallet, setting=key,
                     reason="replaced by a change that applies at once")
    audit.record(audit.Action.SETTINGS_CHANGED, actor=actor, source=source, user=wallet, setting=key,
                 before=before, after=value)
    return change


def toggled_value(*, telegram_user_id: int, key: str) -> bool:
    """What a Toggle button means: the opposite of what the trader sees coming (a pending change, else the value in
    force). So pressing it again while sniping waits to turn on simply keeps it off."""
    wallet = _wallet(telegram_user_id)
    pending = PendingSettingChange.objects.filter(user=wallet, setting=key).first()
    if pending is not None:
        return not pending.value
    return not getattr(UserSettings.objects.get(user=wallet), SETTING_FIELDS[key])


def cancel_pending(*, telegram_user_id: int, key: str, source: str) -> bool:
    wallet = _wallet(telegram_user_id)
    deleted = PendingSettingChange.objects.filter(user=wallet, setting=key).delete()[0]
    if deleted:
        audit.record(audit.Action.SETTING_CHANGE_CANCELLED, actor=_actor(wallet), source=source, user=wallet,
                     setting=key, reason="cancelled by the trader")
    return bool(deleted)


def apply_due(wallet: UserWallet, now: datetime) -> list[SettingChange]:
    """Put the pending changes whose time has come into force (once, whoever gets here first)."""
    if not PendingSettingChange.objects.filter(user=wallet, effective_at__lte=now).exists():
        return []
    with transaction.atomic():
        settings = UserSettings.objects.select_for_update().get(user=wallet)
        applied = _apply_due_locked(settings, now)
    _audit_applied(wallet, applied)
    return applied


def apply_all_due(now: datetime) -> list[tuple[int, list[SettingChange]]]:
    """For the periodic job: every user's due changes, with their Telegram ids so each can be told."""
    wallet_ids = set(PendingSettingChange.objects.filter(effective_at__lte=now).values_list("user_id", flat=True))
    done = []
    for wallet in UserWallet.objects.filter(pk__in=wallet_ids):
        applied = apply_due(wallet, now)
        if applied:
            done.append((wallet.telegram_user_id, applied))
    return done


def settings_view(*, telegram_user_id: int, now: datetime, config: TradingConfig) -> SettingsView:
    wallet = _wallet(telegram_user_id)
    applied = apply_due(wallet, now)
    settings = UserSettings.objects.get(user=wallet)
    return SettingsView(settings=settings, pending=list(PendingSettingChange.objects.filter(user=wallet)),
                        applied=applied, two_factor=second_factor.is_enabled(wallet),
                        spend_cap_lamports=daily_spend_cap_lamports(settings, config),
                        spent_lamports=spent_last_24_hours(wallet, now, paper=is_paper(settings, config)),
                        max_slippage_bps=config.trading.max_slippage_bps)


def settings_now(*, telegram_user_id: int, now: datetime) -> UserSettings:
    """The settings in force at ``now``, with delayed changes that have come due applied first."""
    wallet = _wallet(telegram_user_id)
    apply_due(wallet, now)
    return UserSettings.objects.get(user=wallet)


def buy_needs_code(*, telegram_user_id: int, lamports: int, config: TradingConfig) -> bool:
    """With a second factor on, a buy above the trader's own amount or slippage threshold asks for a code."""
    wallet = _wallet(telegram_user_id)
    settings = UserSettings.objects.get(user=wallet)
    above = settings.buy_code_above_lamports
    steep = settings.buy_code_slippage_bps
    over = ((above is not None and lamports > above)
            or (steep is not None and slippage_bps(settings, config) > steep))
    return over and second_factor.is_enabled(wallet)


def _check_operator_limits(wallet: UserWallet, key: str, value, config: TradingConfig, source: str) -> None:
    limits = config.trading
    if key == "auto_buy" and value is not None:
        # The trader's own limit, not the operator's: a paste above it would only be refused. Lowering the max trade
        # later is not stopped by this; the buy's own size check then refuses the paste.
        maximum = max_trade_lamports(UserSettings.objects.get(user=wallet), config)
        if value <= maximum:
            return
    elif key == "mev_protection" and value and not config.jito_block_engine_url:
        maximum = 0  # on is beyond what this operator offers: no block engine to send protected trades to
    elif key == "slippage" and value > limits.max_slippage_bps:
        maximum = limits.max_slippage_bps
    elif key == "daily_spend" and value is not None and value > limits.max_daily_spend_lamports:
        maximum = limits.max_daily_spend_lamports
    else:
        return
    audit.record(audit.Action.SETTING_REFUSED, actor=_actor(wallet), source=source, user=wallet, setting=key,
                 value=value, maximum=maximum)
    raise SettingRefused(key, maximum=maximum)


def _apply_due_locked(settings: UserSettings, now: datetime) -> list[SettingChange]:
    applied = []
    for pending in PendingSettingChange.objects.select_for_update().filter(user_id=settings.user_id,
                                                                           effective_at__lte=now):
        field = SETTING_FIELDS[pending.setting]
        before = getattr(settings, field)
        setattr(settings, field, pending.value)
        applied.append(SettingChange(pending.setting, before, pending.value, pending.effective_at))
        pending.delete()
    if applied:
        settings.save()
    return applied


def _audit_applied(wallet: UserWallet, applied: list[SettingChange]) -> None:
    for change in applied:
        audit.record(audit.Action.SETTING_CHANGE_APPLIED, actor=_actor(wallet), source=audit.BOT, user=wallet,
                     setting=change.key, before=change.before, after=change.value,
                     requested_delay_ended=change.effective_at.isoformat())


def _wallet(telegram_user_id: int) -> UserWallet:
    wallet = UserWallet.objects.filter(telegram_user_id=telegram_user_id).first()
    if wallet is None or not UserSettings.objects.filter(user=wallet).exists():
        raise WalletNotFound()
    return wallet


def _actor(wallet: UserWallet) -> str:
    return audit.trader(wallet.telegram_user_id, wallet.telegram_username)
