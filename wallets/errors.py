"""Refusals about the wallet itself, raised by every layer above (custody, trading, the bot)."""

from __future__ import annotations

from kernel.errors import UserFacingError


class WalletNotFound(UserFacingError):
    code = "wallet_not_found"
