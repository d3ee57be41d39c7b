"""The one base of every error a user may read.

A ``UserFacingError`` carries data, not words: ``code`` names it (for texts, the audit and machines) and stays the
same when the class is renamed or the wording changes, and each subclass keeps what the sentence needs as typed
attributes (lamports, a mint, a limit). ``telegrambot.texts.refusal`` words it. The exception's text (``str``) is a
detail for operators and the logs, never shown to a user and never a key, a raw payload or an address of ours. The
chat boundary (``telegrambot.handlers.common.guarded``) catches this base and nothing narrower, so a new refusal
needs no new entry there (only its wording).

One kind brings its own sentence: ``WordedError``, for ``ParseError``, whose sentences are telegrambot's own (the
parser is part of the bot's voice), shown as they are.

Operator and internal errors are deliberately not user-facing: ``ConfigError`` (read by whoever sets the
environment), ``AmountError`` (half a sentence, always finished by the caller in its own words), ``SigningError``
and ``SecretUnavailable`` (a broken invariant or key: the user gets the calm generic reply, the operators the log),
``StaffOTPError`` and ``BackupError`` (management commands).
"""

from __future__ import annotations

from typing import ClassVar

GENERIC = "That could not be done; nothing was changed."


class UserFacingError(Exception):
    code: ClassVar[str] = "refused"

    def __init__(self, detail: str = "") -> None:
        """``detail`` is the exception's text for the logs (an RPC status, a timeout: useful to operators, noise to a
        user); without one the text is the code and the error's data."""
        super().__init__(*([detail] if detail else []))

    def __str__(self) -> str:
        if self.args and self.args[0]:
            return str(self.args[0])
        data = ", ".join(f"{name}={value!r}" for name, value in vars(self).items() if not name.startswith("_"))
        return f"{self.code} ({data})" if data else self.code

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must name its own code (snake_case, stable): texts and the audit "
                            "tell errors apart by it")


class WordedError(UserFacingError):
    """A refusal that brings its own sentence (``user_message``), shown as it is."""

    code = "worded_refusal"
    user_message = GENERIC

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        """``user_message`` replaces the class's own; ``detail``, when given, is the exception's text for the logs
        instead of the message."""
        if user_message is not None:
            self.user_message = user_message
        super().__init__(self.user_message if detail is None else detail)

