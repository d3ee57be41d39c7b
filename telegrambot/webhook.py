"""The webhook endpoint, served by the project's ASGI app, so several workers can serve one bot.

Each worker process builds its own Application on the first update (same dependencies as polling, no updater),
checks Telegram's secret token, answers at once, and processes the update in the background on its event loop.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from telegram import Update
from telegram.ext import Application

from kernel.config import get_config
from telegrambot.runner import BotRunner

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_state: dict[str, Application | None] = {"application": None}
_lock = asyncio.Lock()
_background: set[asyncio.Task] = set()


def use_application(application: Application | None) -> None:
    """Serve updates with this (initialized and started) Application instead of building one."""
    _state["application"] = application


@csrf_exempt
@require_POST
async def telegram_webhook(request: HttpRequest) -> HttpResponse:
    application = await _application()
    expected = application.bot_data["deps"].config.telegram_webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponseForbidden("wrong secret token")
    try:
        payload = json.loads(request.body)
        update = Update.de_json(payload, application.bot)
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"ok": False, "error": "not an update"}, status=400)
    task = asyncio.get_running_loop().create_task(application.process_update(update))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return JsonResponse({"ok": True})


async def _application() -> Application:
    async with _lock:
        if _state["application"] is None:
            runner = BotRunner(get_config(), updater=False)
            await runner.application.initialize()
            await runner.application.start()
            runner.start_serving()  # every worker may watch launches: a snipe row per user and mint buys once
            _state["application"] = runner.application
            logger.info("Webhook worker ready")
    return _state["application"]
