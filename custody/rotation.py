"""Re-seal every wallet secret with a new key, resumably.

Each batch runs in its own transaction with the rows locked, and every re-sealed secret is opened again with the
new key alone and checked against the wallet's public key before it is saved. A wallet's ``key_fingerprint`` says
which key sealed it, so an interrupted run simply continues with the wallets not yet on the new key, and a second
run finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from solders.keypair import Keypair

from custody.models import SecondFactor
from wallets.crypto import Keyring, SecretUnavailable, fingerprint
from wallets.models import UserWallet


@dataclass
class RotationReport:
    to_rotate: int = 0
    rotated: int = 0
    already_current: int = 0
    unopenable: list[str] = field(default_factory=list)  # public keys
    mismatched: list[str] = field(default_factory=list)  # public keys whose secret opens to another key

    @property
    def ok(self) -> bool:
        return not self.unopenable and not self.mismatched


def rotate_wallets(*, new_key: str, old_keys: Sequence[str], batch_size: int = 100, dry_run: bool = False,
                   limit: int | None = None, progress: Callable[[RotationReport], None] | None = None
                   ) -> RotationReport:
    ring = Keyring([new_key, *[key for key in old_keys if key != new_key]])
    only_new = Keyring([new_key])
    target = fingerprint(new_key)
    pending = UserWallet.objects.exclude(key_fingerprint=target)
    report = RotationReport(to_rotate=pending.count(),
                            already_current=UserWallet.objects.filter(key_fingerprint=target).count())
    last_pk = 0
    while limit is None or report.rotated < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.rotated)
        with transaction.atomic():
            batch = list(pending.filter(pk__gt=last_pk).order_by("pk").select_for_update()[:size])
            if not batch:
                break
            for wallet in batch:
                _rotate_one(wallet, ring, only_new, target, report, dry_run)
            last_pk = batch[-1].pk
        if progress:
            progress(report)
    return report


def _rotate_one(wallet: UserWallet, ring: Keyring, only_new: Keyring, target: str, report: RotationReport,
                dry_run: bool) -> None:
    try:
        sealed = ring.reseal(wallet.encrypted_secret)
        secret = only_new.open(sealed)
    except SecretUnavailable:
        report.unopenable.append(wallet.public_key)
        return
    if str(Keypair.from_bytes(secret).pubkey()) != wallet.public_key:
        report.mismatched.append(wallet.public_key)
        return
    report.rotated += 1
    if dry_run:
        return
    wallet.encrypted_secret = sealed
    wallet.key_fingerprint = target
    wallet.save(update_fields=["encrypted_secret", "key_fingerprint", "updated_at"])


def rotate_second_factors(*, new_key: str, old_keys: Sequence[str], dry_run: bool = False) -> tuple[int, list[int]]:
    """Re-seal the users' authenticator (TOTP) secrets too: they are sealed with the same keyring. Returns how many
    were re-sealed and the Telegram ids of any no configured key opens (left untouched)."""
    ring = Keyring([new_key, *[key for key in old_keys if key != new_key]])
    only_new = Keyring([new_key])
    target = fingerprint(new_key)
    rotated, unopenable = 0, []
    with transaction.atomic():
        for factor in SecondFactor.objects.exclude(key_fingerprint=target).select_related("user").select_for_update(
                of=("self",)):
            try:
                sealed = ring.reseal(factor.encrypted_secret)
                only_new.open(sealed)
            except SecretUnavailable:
                unopenable.append(factor.user.telegram_user_id)
                continue
            rotated += 1
            if not dry_run:
                factor.encrypted_secret = sealed
                factor.key_fingerprint = target
                factor.save(update_fields=["encrypted_secret", "key_fingerprint"])
    return rotated, unopenable
