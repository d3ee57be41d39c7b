"""Reads of wallets, for the layers above (no writes here: those are custody's audited services)."""

from __future__ import annotations

from kernel.db import db_call
from wallets.errors import WalletNotFound
from wallets.models import UserWallet


@db_call
def public_key_of(telegram_user_id: int) -> str | None:
    """The trader's wallet address; None before /start."""
    return UserWallet.objects.filter(telegram_user_id=telegram_user_id).values_list("public_key", flat=True).first()


def wallet_of(telegram_user_id: int) -> UserWallet:
    """The trader's wallet; WalletNotFound (which tells them to /start) before they have one."""
    wallet = UserWallet.objects.filter(telegram_user_id=telegram_user_id).first()
    if wallet is None:
        raise WalletNotFound()
    return wallet
