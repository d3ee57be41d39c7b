"""The webhook endpoint, served by the project's ASGI app, so several workers can serve one bot.

Each worker process builds its own Application on the first update (same dependencies as polling, no updater)
and answers Telegram at once; the update is processed in the background on the worker's event loop.
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

from tradingbot.config import get_config

logger = logging.getLogger(__name__)
_application: Application | None = None
_lock = asyncio.Lock()
_background: set[asyncio.Task] = set()
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@csrf_exempt
@require_POST
async def telegram_webhook(request: HttpRequest) -> HttpResponse:
    config = get_config()
    expected = config.telegram_webhook_secret
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponseForbidden("wrong secret token")
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"ok": False, "error": "not JSON"}, status=400)
    application = await _get_application()
    update = Update.de_json(payload, application.bot)
    task = asyncio.get_running_loop().create_task(application.process_update(update))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return JsonResponse({"ok": True})


async def _get_application() -> Application:
    global _application
    async with _lock:
        if _application is None:
            from telegrambot.runner import BotRunner

            runner = BotRunner(get_config(), updater=False)
            await runner.application.initialize()
            await runner.application.start()
            _application = runner.application
            logger.info("Webhook worker ready")
    return _application
