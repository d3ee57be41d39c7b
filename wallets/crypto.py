"""The keyring that seals wallet secrets (Fernet, several keys for rotation).

The first key seals; every key opens. Each sealed secret records the fingerprint of the key that sealed it, so a
rotation can tell which wallets are done and resume after an interruption.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from kernel.config import get_config


class SecretUnavailable(Exception):
    """No configured key opens this sealed secret. The message names nothing secret."""


class Keyring:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = [key.encode() if isinstance(key, str) else key for key in keys]
        self._fernet = MultiFernet([Fernet(key) for key in self._keys])
        self.primary_fingerprint = fingerprint(self._keys[0])

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary_fingerprint}, keys={len(self._keys)})"

    def seal(self, secret: bytes) -> str:
        return self._fernet.encrypt(secret).decode()

    def open(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise SecretUnavailable("none of the configured WALLET_ENCRYPTION_KEY keys opens this secret") from None

    def reseal(self, token: str) -> str:
        """Seal again with the primary key (keeps Fernet's original timestamp)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretUnavailable("none of the configured WALLET_ENCRYPTION_KEY keys opens this secret") from None


def fingerprint(key: bytes | str) -> str:
    """A short, non-reversible name for a key (first 16 hex digits of its SHA-256)."""
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def keyring_from_config() -> Keyring:
    return Keyring(get_config().require_encryption_keys())
