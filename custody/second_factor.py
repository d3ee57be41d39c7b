"""The second factor (TOTP) that guards money leaving: withdrawals, key export, and buys above the levels a trader sets.

The secret is sealed with the wallet keyring like a wallet key and opened only to check a code. Wrong codes are
counted under a row lock; after ``totp_max_failures`` in a row the guarded actions lock for ``totp_lock_seconds``.
A code works once (the last used time step is remembered); a code typed again is answered as already used.

Staff cannot switch a user's second factor off at once: a staff reset waits ``STAFF_RESET_DELAY``, the user is
told in Telegram straight away, and a superuser can cancel it meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.db import transaction

from custody import audit, totp
from custody.models import SecondFactor
from custody.notices import Kind, queue_notice
from kernel.config import CustodyPolicy
from kernel.errors import UserFacingError
from wallets.crypto import Keyring
from wallets.models import UserWallet

STAFF_RESET_DELAY = timedelta(hours=24)
class CodeRefused(UserFacingError):
    """A wrong or missing code, or the lock. ``reason`` says which; ``locked`` whether no code is taken until
    ``until``."""

    code = "code_refused"

    class Reason(Enum):
        LOCKED = "locked"  # until, now
        ALREADY_ON = "already_on"
        NO_SETUP = "no_setup"
        SETUP_MISMATCH = "setup_mismatch"
        ALREADY_USED = "already_used"
        WRONG_AND_LOCKED = "wrong_and_locked"  # failures, until, now
        WRONG = "wrong"  # left: wrong codes before the lock

    def __init__(self, reason: CodeRefused.Reason, **facts: object) -> None:
        self.reason, self.facts = reason, facts
        super().__init__(" ".join([f"code {reason.value}", *(f"{name}={value}" for name, value in facts.items())]))

    @property
    def locked(self) -> bool:
        return self.reason in (CodeRefused.Reason.LOCKED, CodeRefused.Reason.WRONG_AND_LOCKED)


@dataclass(frozen=True)
class Setup:
    secret_base32: str
    uri: str


def is_enabled(wallet: UserWallet) -> bool:
    return SecondFactor.objects.filter(user=wallet, confirmed_at__isnull=False).exists()


def ensure_not_locked(wallet: UserWallet, now: datetime) -> None:
    factor = SecondFactor.objects.filter(user=wallet, confirmed_at__isnull=False).first()
    if factor is not None and factor.locked_until and factor.locked_until > now:
        raise CodeRefused(CodeRefused.Reason.LOCKED, until=factor.locked_until, now=now)


def begin_setup(wallet: UserWallet, *, keyring: Keyring, issuer: str = "Solana trading bot") -> Setup:
    """A new secret for the user to add to their app; not active until one code from it is confirmed."""
    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().filter(user=wallet).first()
        if factor is not None and factor.confirmed_at is not None:
            raise CodeRefused(CodeRefused.Reason.ALREADY_ON)
        secret = totp.new_secret()
        sealed = keyring.seal(secret)
        if factor is None:
            SecondFactor.objects.create(user=wallet, encrypted_secret=sealed,
                                        key_fingerprint=keyring.primary_fingerprint)
        else:
            factor.encrypted_secret = sealed
            factor.key_fingerprint = keyring.primary_fingerprint
            factor.failed_attempts = 0
            factor.save(update_fields=["encrypted_secret", "key_fingerprint", "failed_attempts"])
    account = f"@{wallet.telegram_username}" if wallet.telegram_username else str(wallet.telegram_user_id)
    return Setup(totp.base32(secret), totp.provisioning_uri(secret, account=account, issuer=issuer))


def confirm_setup(wallet: UserWallet, code: str, *, keyring: Keyring, now: datetime, source: str) -> None:
    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().filter(user=wallet, confirmed_at__isnull=True).first()
        if factor is None:
            raise CodeRefused(CodeRefused.Reason.NO_SETUP)
        found = totp.match(keyring.open(factor.encrypted_secret), code.strip(), now)
        step = found.step
        if found.verdict is not totp.Verdict.ACCEPTED:
            raise CodeRefused(CodeRefused.Reason.SETUP_MISMATCH)
        factor.confirmed_at = now
        factor.last_used_step = step
        factor.save(update_fields=["confirmed_at", "last_used_step"])
    audit.record(audit.Action.TOTP_ENABLED, actor=audit.trader(wallet.telegram_user_id, wallet.telegram_username),
                 source=source, user=wallet)


def verify(wallet: UserWallet, code: str, *, keyring: Keyring, now: datetime, policy: CustodyPolicy,
           purpose: str, source: str) -> None:
    """Accept one valid, unused code or raise CodeRefused; counts failures and locks after too many."""
    actor = audit.trader(wallet.telegram_user_id, wallet.telegram_username)
    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().filter(user=wallet, confirmed_at__isnull=False).first()
        if factor is None:
            return
        if factor.locked_until and factor.locked_until > now:
            raise CodeRefused(CodeRefused.Reason.LOCKED, until=factor.locked_until, now=now)
        found = totp.match(keyring.open(factor.encrypted_secret), code.strip(), now,
                           last_used_step=factor.last_used_step)
        if found.verdict is totp.Verdict.ACCEPTED:
            factor.failed_attempts = 0
            factor.last_used_step = found.step
            factor.locked_until = None
            factor.save(update_fields=["failed_attempts", "last_used_step", "locked_until"])
            return
        reused = found.verdict is totp.Verdict.ALREADY_USED
        if not reused:
            factor.failed_attempts += 1
            left = policy.totp_max_failures - factor.failed_attempts
            if left <= 0:
                factor.failed_attempts = 0
                factor.locked_until = now + timedelta(seconds=policy.totp_lock_seconds)
            factor.save(update_fields=["failed_attempts", "locked_until"])
    if reused:
        # The code was right but spent: the user typed it twice, or someone who saw it is too late. Neither is a
        # guess, so it is not counted towards the lock, and the answer says what happened.
        audit.record(audit.Action.TOTP_REUSED, actor=actor, source=source, user=wallet, purpose=purpose)
        raise CodeRefused(CodeRefused.Reason.ALREADY_USED)
    audit.record(audit.Action.TOTP_FAILED, actor=actor, source=source, user=wallet, purpose=purpose)
    if left <= 0:
        audit.record(audit.Action.TOTP_LOCKED, actor=actor, source=source, user=wallet,
                     until=factor.locked_until.isoformat())
        raise CodeRefused(CodeRefused.Reason.WRONG_AND_LOCKED, failures=policy.totp_max_failures,
                          until=factor.locked_until, now=now)
    raise CodeRefused(CodeRefused.Reason.WRONG, left=left)


def disable(wallet: UserWallet, *, source: str) -> None:
    SecondFactor.objects.filter(user=wallet).delete()
    audit.record(audit.Action.TOTP_DISABLED, actor=audit.trader(wallet.telegram_user_id, wallet.telegram_username),
                 source=source, user=wallet)


def pending_reset(wallet: UserWallet) -> datetime | None:
    """When a staff reset of this user's second factor takes effect, if one is pending."""
    return SecondFactor.objects.filter(user=wallet, reset_after__isnull=False).values_list("reset_after",
                                                                                          flat=True).first()


def request_staff_reset(factor_id: int, *, actor: str, source: str, now: datetime) -> datetime | None:
    """Schedule a staff reset ``STAFF_RESET_DELAY`` ahead and queue the user's notice; None if there is no factor or
    a reset is already pending (the first request's time stands)."""
    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().select_related("user").filter(pk=factor_id).first()
        if factor is None or factor.reset_after is not None:
            return None
        factor.reset_requested_at = now
        factor.reset_requested_by = actor[:150]
        factor.reset_after = now + STAFF_RESET_DELAY
        factor.save(update_fields=["reset_requested_at", "reset_requested_by", "reset_after"])
        queue_notice(wallet=factor.user, kind=Kind.TOTP_RESET_REQUESTED, at=factor.reset_after.isoformat())
    audit.record(audit.Action.TOTP_RESET_REQUESTED, actor=actor, source=source, user=factor.user,
                 takes_effect=factor.reset_after.isoformat())
    return factor.reset_after


def cancel_staff_reset(factor_id: int, *, actor: str, source: str) -> bool:
    with transaction.atomic():
        factor = SecondFactor.objects.select_for_update().select_related("user").filter(pk=factor_id).first()
        if factor is None or factor.reset_after is None:
            return False
        requested_by = factor.reset_requested_by
        factor.reset_requested_at = factor.reset_after = None
        factor.reset_requested_by = ""
        factor.save(update_fields=["reset_requested_at", "reset_requested_by", "reset_after"])
        queue_notice(wallet=factor.user, kind=Kind.TOTP_RESET_CANCELLED)
    audit.record(audit.Action.TOTP_RESET_CANCELLED, actor=actor, source=source, user=factor.user,
                 requested_by=requested_by)
    return True


def apply_due_resets(now: datetime) -> int:
    """Turn off the second factors whose staff reset is due (run by the bot process); returns how many."""
    applied = 0
    for factor_id in SecondFactor.objects.filter(reset_after__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            factor = (SecondFactor.objects.select_for_update().select_related("user")
                      .filter(pk=factor_id, reset_after__lte=now).first())
            if factor is None:  # cancelled, or applied by another worker, since the list was read
                continue
            wallet, requested_by = factor.user, factor.reset_requested_by
            factor.delete()
            queue_notice(wallet=wallet, kind=Kind.TOTP_RESET_APPLIED)
        audit.record(audit.Action.TOTP_RESET_APPLIED, actor=audit.BOT, source=audit.BOT, user=wallet,
                     requested_by=requested_by)
        applied += 1
    return applied
