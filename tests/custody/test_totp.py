"""TOTP against the RFC test vectors, and the replay / drift rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    assert "digits=6" in uri and "period=30" in uri
