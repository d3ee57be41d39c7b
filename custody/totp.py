"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): SHA-1, 6 digits, 30-second steps, which is what
every authenticator app uses by default. Small enough to own rather than depend on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # accept the previous and the next step too (clock drift between phone and server)


def new_secret() -> bytes:
    return secrets.token_bytes(20)  # 160 bits, as RFC 4226 recommends


def base32(secret: bytes) -> str:
    """The form people type into an authenticator app (no padding)."""
    return base64.b32encode(secret).decode().rstrip("=")


def provisioning_uri(secret: bytes, *, account: str, issuer: str) -> str:
    return (f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={base32(secret)}&issuer={quote(issuer)}"
            f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}")


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def hotp(secret: bytes, counter: int, digits: int = DIGITS) -> str:
    digest = hmac.new(secret, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFF_FFFF
    return str(value % 10**digits).zfill(digits)


def code_at(secret: bytes, moment: datetime) -> str:
    return hotp(secret, step_at(moment))


def matching_step(secret: bytes, code: str, moment: datetime, *, after_step: int = 0) -> int | None:
    """The time step ``code`` belongs to (within the drift window and later than ``after_step``), else None."""
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    now = step_at(moment)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if step > after_step and hmac.compare_digest(hotp(secret, step), code):
            return step
    return None
