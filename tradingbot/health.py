"""Health checks shared by the probes (/healthz, /readyz) and ``manage.py healthcheck``.

A failing check says which dependency is down and how (timed out, HTTP 503, the error's type), never where: driver
messages carry hosts, ports, user names and sometimes passwords, and /readyz answers whoever can reach it. The full
error goes to the server log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import connections

from kernel.chain.errors import ChainError
from kernel.chain.rpc import RpcGateway
from kernel.config import TradingConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: int


async def readiness(config: TradingConfig, *, database_alias: str = "default", timeout: float = 3.0) -> list[Check]:
    """Database, Solana RPC and (when configured) Redis, checked in parallel, each within ``timeout``."""
    checks = [_timed("database", _database(database_alias), timeout), _timed("solana_rpc", _rpc(config), timeout)]
    if config.redis_url:
        checks.append(_timed("redis", _redis(config.redis_url), timeout))
    return list(await asyncio.gather(*checks))


async def _timed(name: str, probe, timeout: float) -> Check:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe, timeout)
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer within {timeout:g} s"
    except Exception as err:  # a probe reports any failure as its detail, never as a crash
        ok, detail = False, _describe(err)
        logger.warning("Readiness check %s failed: %s: %s", name, type(err).__name__, err)
    return Check(name, ok, detail, int((time.perf_counter() - started) * 1000))


class ReadinessCache:
    """The last readiness answer, reused for ``ttl`` seconds, so that probes (or anyone who can reach /readyz)
    cannot turn into a stream of RPC requests spending the provider's quota."""

    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._checks: list[Check] | None = None
        self._checked_at = 0.0

    async def checks(self, config: TradingConfig) -> list[Check]:
        if self._checks is None or self._clock() - self._checked_at >= self.ttl:
            self._checks = await readiness(config)
            self._checked_at = self._clock()
        return self._checks


def _describe(err: Exception) -> str:
    if isinstance(err, ChainError):  # the chain boundary's own messages name a method and a status, no address
        return f"{type(err).__name__}: {str(err)[:200]}"
    return f"{type(err).__name__} (details in the server log)"


async def _database(alias: str) -> str:
    def query() -> str:
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor

    return await sync_to_async(query, thread_sensitive=True)()


async def _rpc(config: TradingConfig) -> str:
    rpc = RpcGateway(config.solana_rpc_url, timeout=2.0, read_attempts=1)
    try:
        return f"block height {await rpc.block_height()}"
    finally:
        await rpc.close(quiet=True)


async def _redis(url: str) -> str:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_timeout=2)
    try:
        await client.ping()
        return "PONG"
    finally:
        await client.aclose()
