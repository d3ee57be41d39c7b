"""Probes for orchestrators: /healthz (the process answers) and /readyz (its dependencies answer)."""

from __future__ import annotations

from dataclasses import asdict

from django.http import JsonResponse

from kernel.config import get_config
from tradingbot.health import ReadinessCache

_READINESS = ReadinessCache(ttl=5.0)


async def healthz(request) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def readyz(request) -> JsonResponse:
    checks = await _READINESS.checks(get_config())
    ok = all(check.ok for check in checks)
    body = {"status": "ok" if ok else "fail", "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"}
                                                         for c in checks}}
    return JsonResponse(body, status=200 if ok else 503)
