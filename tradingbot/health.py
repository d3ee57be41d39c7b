"""Health checks shared by the probes (/healthz, /readyz) and ``manage.py healthcheck``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from django.db import connections

from tradingbot.config import TradingConfig


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
        ok, detail = False, f"{type(err).__name__}: {str(err)[:200]}"
    return Check(name, ok, detail, int((time.perf_counter() - started) * 1000))


async def _database(alias: str) -> str:
    from asgiref.sync import sync_to_async

    def query() -> str:
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor

    return await sync_to_async(query, thread_sensitive=True)()


async def _rpc(config: TradingConfig) -> str:
    from tradingbot.chain.rpc import RpcGateway

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
