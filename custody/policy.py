"""A user's withdrawal protection: the address allow-list and the delay on large withdrawals.

Tightening takes effect at once. Anything that makes money leaving easier (a new allow-listed address, switching
the allow-list off, raising or removing the large-withdrawal threshold) waits ``allowlist_delay_seconds`` and is
announced, so someone who takes over a Telegram account cannot open the door and walk out at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum

from custody import audit, second_factor
from custody.errors import WithdrawalError
from custody.models import AllowedAddress, WithdrawalPolicy
from wallets.models import UserWallet, Withdrawal

THRESHOLD_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class PolicyView:
    allowlist_on: bool
    allowlist_off_at: datetime | None
    addresses: list[AllowedAddress]
    threshold_lamports: int | None
    pending_threshold: tuple[int | None, datetime] | None  # (new value, None = off; when)


def current(wallet: UserWallet, now: datetime) -> PolicyView:
    """The policy in force at ``now``, with changes that have come due applied (and saved). Reading never creates
    a policy: a user who never set one has the defaults (no allow-list, no delay)."""
    policy = WithdrawalPolicy.objects.filter(user=wallet).first()
    if policy is None:
        return PolicyView(allowlist_on=False, allowlist_off_at=None, addresses=[], threshold_lamports=None,
                          pending_threshold=None)
    if _has_due(policy, now):
        with transaction.atomic():
            policy = _locked(wallet)
            _apply_due(policy, now)
    addresses = list(AllowedAddress.objects.filter(user=wallet).order_by("created_at"))
    pending = None
    if policy.pending_threshold_at is not None:
        value = None if policy.pending_threshold_off else policy.pending_threshold_lamports
        pending = (value, policy.pending_threshold_at)
    return PolicyView(allowlist_on=policy.allowlist_enabled, allowlist_off_at=policy.allowlist_off_at,
                      addresses=addresses, threshold_lamports=policy.large_threshold_lamports,
                      pending_threshold=pending)


def is_protected(wallet: UserWallet, now: datetime) -> bool:
    """Whether the trader guards money leaving at all (a second factor, the allow-list or the large-withdrawal
    delay). Then every way out is guarded alike: loosening a trading setting waits too (positions.trade_policy)."""
    view = current(wallet, now)
    return view.allowlist_on or view.threshold_lamports is not None or second_factor.is_enabled(wallet)


def check_destination(wallet: UserWallet, destination: str, now: datetime) -> None:
    """Refuse a withdrawal to an address the allow-list does not (yet) allow."""
    view = current(wallet, now)
    if not view.allowlist_on:
        return
    entry = next((address for address in view.addresses if address.address == destination), None)
    if entry is None:
        raise WithdrawalError(WithdrawalError.Reason.NOT_ALLOWLISTED)
    if entry.active_from > now:
        raise WithdrawalError(WithdrawalError.Reason.ALLOWLIST_PENDING, active_from=entry.active_from)


def needs_delay(wallet: UserWallet, lamports: int, now: datetime) -> bool:
    """Whether this withdrawal must wait: with what left in the last 24 hours (sent, on its way, or delayed), it goes
    over the threshold. Counting the window stops a large sum leaving at once in pieces just under the threshold.
    Deciding to send needs the user's row locked around this check and the write of the withdrawal
    (``custody.withdrawals``): otherwise concurrent withdrawals each see the others' amounts missing."""
    threshold = current(wallet, now).threshold_lamports
    if threshold is None:
        return False
    recent = Withdrawal.objects.filter(user=wallet, created_at__gte=now - THRESHOLD_WINDOW,
                                       status__in=[Withdrawal.Status.PENDING, Withdrawal.Status.CONFIRMED,
                                                   Withdrawal.Status.SCHEDULED])
    already = recent.aggregate(total=Sum("lamports"))["total"] or 0
    return already + lamports > threshold


def add_address(wallet: UserWallet, address: str, label: str, *, now: datetime, delay_seconds: int,
                source: str) -> AllowedAddress:
    with transaction.atomic():
        policy = _locked(wallet)
        if AllowedAddress.objects.filter(user=wallet, address=address).exists():
            raise WithdrawalError(WithdrawalError.Reason.ALREADY_ALLOWLISTED)
        if address == wallet.public_key:
            raise WithdrawalError(WithdrawalError.Reason.OWN_ADDRESS_ALLOWLISTED)
        entry = AllowedAddress.objects.create(user=wallet, address=address, label=label[:40], created_at=now,
                                              active_from=now + timedelta(seconds=delay_seconds))
        policy.allowlist_enabled = True
        policy.allowlist_off_at = None  # adding an address cancels a pending switch-off
        policy.save(update_fields=["allowlist_enabled", "allowlist_off_at", "updated_at"])
    audit.record(audit.Action.ALLOWLIST_ADDED, actor=_actor(wallet), source=source, user=wallet, address=address,
                 active_from=entry.active_from.isoformat())
    return entry


def remove_address(wallet: UserWallet, address: str, *, source: str) -> None:
    deleted, _ = AllowedAddress.objects.filter(user=wallet, address=address).delete()
    if not deleted:
        raise WithdrawalError(WithdrawalError.Reason.NOT_ON_ALLOWLIST)
    audit.record(audit.Action.ALLOWLIST_REMOVED, actor=_actor(wallet), source=source, user=wallet, address=address)


def request_allowlist_off(wallet: UserWallet, *, now: datetime, delay_seconds: int, source: str) -> datetime:
    with transaction.atomic():
        policy = _locked(wallet)
        _apply_due(policy, now)
        if not policy.allowlist_enabled:
            raise WithdrawalError(WithdrawalError.Reason.ALLOWLIST_ALREADY_OFF)
        if policy.allowlist_off_at is None:
            policy.allowlist_off_at = now + timedelta(seconds=delay_seconds)
            policy.save(update_fields=["allowlist_off_at", "updated_at"])
        when = policy.allowlist_off_at
    audit.record(audit.Action.POLICY_CHANGED, actor=_actor(wallet), source=source, user=wallet,
                 change="allow-list off requested", effective=when.isoformat())
    return when


def set_threshold(wallet: UserWallet, lamports: int | None, *, now: datetime, delay_seconds: int,
                  source: str) -> datetime | None:
    """Set (or with None remove) the large-withdrawal threshold. Returns when it applies: None = at once."""
    with transaction.atomic():
        policy = _locked(wallet)
        _apply_due(policy, now)
        current_value = policy.large_threshold_lamports
        tightening = lamports is not None and (current_value is None or lamports <= current_value)
        if tightening:
            policy.large_threshold_lamports = lamports
            policy.pending_threshold_at = None
            policy.pending_threshold_lamports = None
            policy.pending_threshold_off = False
            when = None
        else:
            policy.pending_threshold_lamports = lamports
            policy.pending_threshold_off = lamports is None
            policy.pending_threshold_at = now + timedelta(seconds=delay_seconds)
            when = policy.pending_threshold_at
        policy.save()
    audit.record(audit.Action.POLICY_CHANGED, actor=_actor(wallet), source=source, user=wallet,
                 change="large-withdrawal threshold", lamports=lamports,
                 effective=when.isoformat() if when else "now")
    return when


def _locked(wallet: UserWallet) -> WithdrawalPolicy:
    WithdrawalPolicy.objects.get_or_create(user=wallet)
    return WithdrawalPolicy.objects.select_for_update().get(user=wallet)


def _has_due(policy: WithdrawalPolicy, now: datetime) -> bool:
    return ((policy.allowlist_off_at is not None and policy.allowlist_off_at <= now)
            or (policy.pending_threshold_at is not None and policy.pending_threshold_at <= now))


def _apply_due(policy: WithdrawalPolicy, now: datetime) -> None:
    changed = False
    if policy.allowlist_off_at is not None and policy.allowlist_off_at <= now:
        policy.allowlist_enabled = False
        policy.allowlist_off_at = None
        changed = True
    if policy.pending_threshold_at is not None and policy.pending_threshold_at <= now:
        policy.large_threshold_lamports = None if policy.pending_threshold_off else policy.pending_threshold_lamports
        policy.pending_threshold_at = None
        policy.pending_threshold_lamports = None
        policy.pending_threshold_off = False
        changed = True
    if changed:
        policy.save()


def _actor(wallet: UserWallet) -> str:
    return audit.trader(wallet.telegram_user_id, wallet.telegram_username)
