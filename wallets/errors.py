"""Refusals of money leaving a wallet: a withdrawal, a key export, or a change to the user's own withdrawal
protection (the allow-list). Each carries ``user_message``, safe to show the user, and changes nothing.

Its own module so that the guards below the withdrawal flow (``custody.policy``) raise it themselves, and it reaches
the user as raised instead of being caught and translated on the way up."""

from __future__ import annotations

from kernel.errors import UserFacingError


class WithdrawalError(UserFacingError):
    code = "withdrawal_refused"
