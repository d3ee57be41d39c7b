"""The shared cache holds JSON: a pickle planted in it (by anyone who can write to Redis) is never unpickled."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from kernel.config import BASE_DIR
from tests.settings import TEST_WALLET_KEY


class _Payload:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_values_round_trip_as_json_and_counters_count():
    cache.set("t:action", {"kind": "withdraw", "withdrawal": 7}, 60)
    assert cache.get("t:action") == {"kind": "withdraw", "withdrawal": 7}
    cache.add("t:count", 0, 60)
    assert cache.incr("t:count") == 1 and cache.get("t:count") == 1
    with pytest.raises(TypeError):  # what JSON cannot carry is refused when stored, not silently pickled
        cache.set("t:object", object(), 60)


def test_a_pickle_planted_in_the_local_cache_is_not_unpickled(tmp_path, caplog):
    marker = tmp_path / "code-ran"
    key = cache.make_and_validate_key("tradingbot:button:1:AAAAAAAA")
    cache._cache[key] = pickle.dumps(_Payload(marker))  # written behind the cache's back
    cache._expire_info[key] = time.time() + 60
    assert cache.get("tradingbot:button:1:AAAAAAAA") is None  # read as expired
    assert not marker.exists()
    assert "not JSON" in caplog.text


def test_a_pickle_planted_in_redis_is_not_unpickled_by_the_configured_cache(tmp_path):
    """The settings as deployed with REDIS_URL, in a process of their own, against the real Redis."""
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/13"
    try:
        client = redis.Redis.from_url(url)
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    marker = tmp_path / "code-ran"
    key = f"tradingbot:button:{os.getpid()}:AAAAAAAA"
    client.set(f":1:{key}", pickle.dumps(_Payload(marker)), ex=60)
    script = ("import django, json; django.setup(); from django.core.cache import cache; "
              f"print(json.dumps([cache.get({key!r}), type(cache._cache._serializer).__name__]))")
    env = {"PATH": "/usr/bin:/bin", "TRADINGBOT_ENV_FILE": os.devnull, "REDIS_URL": url,
           "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY, "SECRET_KEY": "test-only", "PYTHONPATH": str(BASE_DIR),
           "DJANGO_SETTINGS_MODULE": "tradingbot.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                            timeout=60)
    client.delete(f":1:{key}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [None, "JSONSerializer"]
    assert not marker.exists()
