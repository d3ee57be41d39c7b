"""python manage.py runbot [--webhook [--host H] [--port P]]: run the Telegram bot until SIGTERM or Ctrl-C."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from telegram.error import InvalidToken, NetworkError

from kernel.config import describe_missing, get_config
from kernel.metrics_server import start_metrics_server
from telegrambot.handlers.common import is_outage, one_line
from telegrambot.runner import BotRunner


class Command(BaseCommand):
    help = ("Run the Telegram bot: long polling by default; with --webhook, register the webhook and serve it "
            "with the ASGI app (run one such process per worker).")

    def add_arguments(self, parser):
        parser.add_argument("--webhook", action="store_true", help="Serve a webhook instead of polling.")
        parser.add_argument("--host", default="127.0.0.1", help="Webhook mode: address to listen on.")
        parser.add_argument("--port", type=int, default=8080, help="Webhook mode: port to listen on.")
        parser.add_argument("--no-register", action="store_true",
                            help="Webhook mode: do not call setWebhook (another worker did).")

    def handle(self, *args, webhook=False, host="127.0.0.1", port=8080, no_register=False, **options):
        config = get_config()
        missing = config.missing_to_run_bot(webhook=webhook)
        if missing:
            raise CommandError(describe_missing(missing).removeprefix("Configuration error: "), returncode=2)
        if not webhook:
            exporter = self._start_exporter(config.bot_metrics_port)
            try:
                with _bot_api_errors_as_one_line(config.telegram_api_base_url):
                    asyncio.run(BotRunner(config).run_polling())
            finally:
                if exporter is not None:
                    exporter.shutdown()
                    exporter.server_close()
            return
        if not config.redis_url:
            self.stderr.write("Warning: REDIS_URL is not set, so buttons and questions in flight live in this worker "
                              "alone. Fine for one webhook worker; with several, set REDIS_URL (and PostgreSQL).")
        if not no_register:
            with _bot_api_errors_as_one_line(config.telegram_api_base_url):
                url = asyncio.run(BotRunner(config).register_webhook())
            self.stdout.write(f"Webhook registered: {url}")
        from daphne.cli import CommandLineInterface

        self.stdout.write(f"Serving the webhook on http://{host}:{port}/telegram/webhook/")
        CommandLineInterface().run(["-b", host, "-p", str(port), "tradingbot.asgi:application"])

    def _start_exporter(self, port: int):
        if port == 0:
            return None
        try:
            return start_metrics_server(port)[0]
        except OSError as err:
            raise CommandError(f"BOT_METRICS_PORT={port} cannot be used ({err.strerror}); pick a free port, or 0 to "
                               "turn the bot's metrics exporter off.") from None


@contextmanager
def _bot_api_errors_as_one_line(base_url: str | None) -> Iterator[None]:
    """At start the bot cannot work without the Bot API: say so in one line (a supervisor restarts it), not in a
    60-line traceback. Once running, an outage is retried with back-off instead (runner.PollingErrors)."""
    try:
        yield
    except InvalidToken:
        raise CommandError("The Bot API refused TELEGRAM_BOT_TOKEN (revoked, or not the token @BotFather gave you); "
                           "set the right one in .env and start again.") from None
    except NetworkError as err:
        if not is_outage(err):
            raise
        parts = urlsplit(base_url or "https://api.telegram.org")
        where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        raise CommandError(f"Cannot reach the Telegram Bot API at {where} ({one_line(err)}); check "
                           "TELEGRAM_API_BASE_URL (empty means Telegram's own) and the network, then start "
                           "again.") from None
