"""python manage.py runbot [--webhook]: run the Telegram bot until SIGTERM or Ctrl-C."""

import asyncio

from django.core.management.base import BaseCommand, CommandError

from tradingbot.config import ConfigError, get_config


class Command(BaseCommand):
    help = "Run the Telegram bot (long polling by default)."

    def add_arguments(self, parser):
        parser.add_argument("--webhook", action="store_true", help="Serve a webhook instead of polling.")

    def handle(self, *args, webhook=False, **options):
        config = get_config()
        try:
            config.require_telegram_token()
            config.require_encryption_keys()
        except ConfigError as err:
            raise CommandError(f"{err}\nSet it in .env (copy .env.example) and run again.") from None
        from telegrambot.runner import BotRunner

        runner = BotRunner(config)
        if webhook:
            raise CommandError("Webhook mode is not available yet; run without --webhook to use polling.")
        asyncio.run(runner.run_polling())
