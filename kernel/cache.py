"""The shared cache stores JSON, never pickles.

Django's cache backends pickle what they store, and unpickling runs code chosen by whoever wrote the bytes. With
several workers the cache is a Redis server: anyone who can write to it could then run code in the process that
holds the wallet encryption key. So values are JSON (integers stay raw, so ``incr`` stays atomic on Redis), and an
entry that is not JSON (a planted pickle, say) is never decoded: it reads as missing (expired), with a warning.
The local-memory cache used by a single process encodes the same way, so the tests run what production runs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache

logger = logging.getLogger(__name__)


class JSONSerializer:
    """For Django's RedisCache: ``OPTIONS={"serializer": "kernel.cache.JSONSerializer"}``."""

    def dumps(self, value: object) -> int | bytes:
        if type(value) is int:  # raw, like Django's own serializer, so Redis INCR works on it
            return value
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        return decode(data)


def decode(data: bytes) -> Any:
    """The stored value, or None (as if expired) for anything that is not JSON this module wrote."""
    try:
        return int(data)
    except (ValueError, TypeError):
        pass
    try:
        return json.loads(data)
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError: a binary pickle lands here
        logger.warning("Ignored a cache entry that is not JSON (treated as expired): something other than this bot "
                       "may be writing to the cache. Check who can reach REDIS_URL.")
        return None


class JSONLocMemCache(LocMemCache):
    """Django's local-memory cache, storing JSON bytes instead of pickles."""

    def add(self, key: str, value: object, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        encoded = _encode(value)
        with self._lock:
            if self._has_expired(key):
                self._set(key, encoded, timeout)
                return True
            return False

    def get(self, key: str, default: object = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                return default
            encoded = self._cache[key]
            self._cache.move_to_end(key, last=False)
        return decode(encoded)

    def set(self, key: str, value: object, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        encoded = _encode(value)
        with self._lock:
            self._set(key, encoded, timeout)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                raise ValueError(f"Key '{key}' not found")
            new_value = decode(self._cache[key]) + delta
            self._cache[key] = _encode(new_value)
            self._cache.move_to_end(key, last=False)
        return new_value


def _encode(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
