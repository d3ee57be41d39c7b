"""The one base of every error a user may read.

A ``UserFacingError`` says in ``user_message`` what went wrong and what to do, and never carries a key, a raw
payload or an address of ours; ``code`` names it for machines (texts, the audit) and stays the same when the class
is renamed or the wording changes. The chat boundary (``telegrambot.handlers.common.guarded``) catches this base
and nothing narrower, so a new refusal needs no new entry there.

Operator and internal errors are deliberately not user-facing: ``ConfigError`` (read by whoever sets the
environment), ``AmountError`` (half a sentence, always finished by the caller in its own words), ``SigningError``
and ``SecretUnavailable`` (a broken invariant or key: the user gets the calm generic reply, the operators the log),
``StaffOTPError`` and ``BackupError`` (management commands).
"""

from __future__ import annotations

from typing import ClassVar


class UserFacingError(Exception):
    code: ClassVar[str] = "refused"
    user_message = "That could not be done; nothing was changed."

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        """``user_message`` replaces the class's own; ``detail``, when given, is the exception's text for the logs
        instead of the message (an RPC status, a timeout: useful to operators, noise to a user)."""
        if user_message is not None:
            self.user_message = user_message
        super().__init__(self.user_message if detail is None else detail)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must name its own code (snake_case, stable): texts and the audit "
                            "tell errors apart by it")
