"""TOTP (through pyotp) against the RFC test vectors, and the replay / drift rules."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pyotp

from custody import totp

RFC_SECRET = b"12345678901234567890"


def test_hotp_matches_rfc_4226_vectors():
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [totp.hotp(RFC_SECRET, counter) for counter in range(10)] == expected


def test_totp_matches_rfc_6238_sha1_vectors():
    # RFC 6238 appendix B gives 8 digits; the last 6 are the 6-digit code.
    vectors = {59: "94287082", 1111111109: "07081804", 1111111111: "14050471", 1234567890: "89005924",
               2000000000: "69279037", 20000000000: "65353130"}
    for seconds, code in vectors.items():
        moment = datetime.fromtimestamp(seconds, tz=UTC)
        assert totp.hotp(RFC_SECRET, totp.step_at(moment), digits=8) == code


def test_a_code_is_accepted_once_and_within_one_step_of_drift():
    secret = totp.new_secret()
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    code = totp.code_at(secret, now)
    step = totp.matching_step(secret, code, now)
    assert step == totp.step_at(now)
    assert totp.matching_step(secret, code, now, after_step=step) is None  # replay refused
    assert totp.matching_step(secret, code, now + timedelta(seconds=30)) == step  # phone 30 s behind
    assert totp.matching_step(secret, code, now + timedelta(seconds=90)) is None  # too old
    for bad in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert totp.matching_step(secret, bad, now) is None


def test_provisioning_uri_is_what_authenticator_apps_read():
    uri = totp.provisioning_uri(RFC_SECRET, account="@alice", issuer="Solana trading bot")
    assert uri.startswith("otpauth://totp/Solana%20trading%20bot:%40alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    app = pyotp.parse_uri(uri)  # what an authenticator app reads: SHA-1, 6 digits, 30 s (the defaults, left out)
    assert (app.digits, app.interval, app.digest().name, app.secret) == (6, 30, "sha1", totp.base32(RFC_SECRET))


def _rfc6238(secret: bytes, moment: datetime) -> str:
    """The hand-written RFC 6238 code the bot used before pyotp, kept here to prove old secrets still work."""
    digest = hmac.new(secret, (int(moment.timestamp()) // 30).to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return str((int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFF_FFFF) % 10**6).zfill(6)


def test_secrets_made_before_pyotp_give_the_same_codes_with_the_same_drift_window():
    secret = bytes(range(20))  # any 20-byte secret sealed by the old module
    now = datetime(2026, 11, 24, 12, 0, 7, tzinfo=UTC)
    for offset in range(-120, 121, 30):
        moment = now + timedelta(seconds=offset)
        assert totp.code_at(secret, moment) == _rfc6238(secret, moment)
    accepted = [offset for offset in (-60, -30, 0, 30, 60)
                if totp.matching_step(secret, _rfc6238(secret, now + timedelta(seconds=offset)), now) is not None]
    assert accepted == [-30, 0, 30]  # one step either way, as before


def test_a_spent_code_is_told_apart_from_a_wrong_one():
    secret = totp.new_secret()
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    code = totp.code_at(secret, now)
    first = totp.match(secret, code, now)
    assert first == totp.Match(totp.Verdict.ACCEPTED, totp.step_at(now))
    assert totp.match(secret, code, now, last_used_step=first.step).verdict is totp.Verdict.ALREADY_USED
    older = totp.code_at(secret, now - timedelta(seconds=30))  # still in the window, but before the spent step
    assert totp.match(secret, older, now, last_used_step=first.step).verdict is totp.Verdict.ALREADY_USED
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert totp.match(secret, wrong, now, last_used_step=first.step).verdict is totp.Verdict.WRONG
