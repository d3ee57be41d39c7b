"""The address a web request came from, for the audit log and login throttling.

Behind a TLS proxy, REMOTE_ADDR is the proxy's own address, so the client's is taken from X-Forwarded-For, but only
when the request arrived from a proxy the operator named in TRUSTED_PROXIES: anyone can send that header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXIES
    if remote not in trusted:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):  # each proxy appends the address it saw: the right-most untrusted one is the client
        if hop not in trusted:
            return hop
    return remote
