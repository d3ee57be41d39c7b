"""Time-based one-time passwords for traders, through pyotp: SHA-1, 6 digits, 30-second steps (what every
authenticator app uses by default), one step of drift either way. Secrets made before the move to pyotp keep
working: the same 20 random bytes, the same base32 form, the same steps.

A code works once: the caller keeps the last step it accepted and ``match`` tells a code from that step (or an
older one still in the window) apart from a wrong code, so the trader is told "already used", not "wrong"."""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from datetime import datetime

import pyotp
from pyotp.utils import strings_equal

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # accept the previous and the next step too (clock drift between phone and server)


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    ALREADY_USED = "already_used"
    WRONG = "wrong"


@dataclass(frozen=True)
class Match:
    verdict: Verdict
    step: int | None = None


def new_secret() -> bytes:
    return base64.b32decode(pyotp.random_base32(32))  # 160 bits, as RFC 4226 recommends


def base32(secret: bytes) -> str:
    """The form people type into an authenticator app (no padding)."""
    return base64.b32encode(secret).decode().rstrip("=")


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    return pyotp.HOTP(base32(secret), digits=digits).at(counter)


def code_at(secret: bytes, moment: datetime) -> str:
    return _totp(secret).at(int(moment.timestamp()))


def match(secret: bytes, code: str, moment: datetime, *, last_used_step: int = 0) -> Match:
    """Which step within the drift window ``code`` belongs to, and whether that step was already spent."""
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return Match(Verdict.WRONG)
    totp, now = _totp(secret), step_at(moment)
    # Newest first: a code that is valid for a fresh step is accepted even if an older step had the same digits.
    for step in range(now + WINDOW, now - WINDOW - 1, -1):
        if strings_equal(totp.generate_otp(step), code):
            return Match(Verdict.ACCEPTED, step) if step > last_used_step else Match(Verdict.ALREADY_USED, step)
    return Match(Verdict.WRONG)


def matching_step(secret: bytes, code: str, moment: datetime, *, after_step: int = 0) -> int | None:
    """The time step ``code`` belongs to (within the drift window and later than ``after_step``), else None."""
    found = match(secret, code, moment, last_used_step=after_step)
    return found.step if found.verdict is Verdict.ACCEPTED else None


def _totp(secret: bytes) -> pyotp.TOTP:
    return pyotp.TOTP(base32(secret), digits=DIGITS, interval=STEP_SECONDS)
