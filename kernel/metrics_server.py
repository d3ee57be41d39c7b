"""The bot runs in its own process: it serves its own Prometheus series on a local port (BOT_METRICS_PORT)."""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

logger = logging.getLogger(__name__)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics for this process; returns (server, thread) — call ``server.shutdown()`` to stop."""
    server, thread = start_http_server(port, addr=host)
    logger.info("Bot metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server, thread
