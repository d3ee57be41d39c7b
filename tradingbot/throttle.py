"""Admin login throttling: after 5 failed attempts for one address and username within 15 minutes, further
attempts are refused for 15 minutes. Counters live in the cache (Redis when configured, so workers share them)."""

from __future__ import annotations

import hashlib
import logging

from django.contrib import admin
from django.core.cache import cache
from django.http import HttpResponse

from kernel.clientip import client_ip

logger = logging.getLogger("tradingbot.audit")
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


def throttled_admin_login(request, extra_context=None):
    key = _key(request)
    failures = cache.get(key)
    if request.method == "POST" and isinstance(failures, int) and failures >= MAX_FAILURES:
        logger.warning("Admin login refused (throttled) from %s", client_ip(request))
        return HttpResponse("Too many failed sign-in attempts. Wait 15 minutes, then try again.", status=429,
                            content_type="text/plain")
    response = admin.site.login(request, extra_context)
    if request.method == "POST":
        if request.user.is_authenticated:
            cache.delete(key)
            logger.info("Admin login by %s from %s", request.user.get_username(), client_ip(request))
        else:
            cache.add(key, 0, WINDOW_SECONDS)
            cache.incr(key)
            logger.warning("Failed admin login from %s", client_ip(request))
    return response


def _key(request) -> str:
    username = request.POST.get("username", "")[:150].lower()
    digest = hashlib.sha256(f"{client_ip(request)}|{username}".encode()).hexdigest()[:32]
    return f"admin-login-failures:{digest}"

