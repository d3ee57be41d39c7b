"""python manage.py healthcheck [--database-url URL]: exit 0 when ready, else one line per failing check."""

import asyncio

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from kernel.config import ConfigError, get_config, load_config
from kernel.db import connection_settings
from tradingbot.health import readiness


class Command(BaseCommand):
    help = "Check the database, Solana RPC and Redis (when configured); exit non-zero if any fails."

    def add_arguments(self, parser):
        parser.add_argument("--database-url", help="Check this database instead of the configured one.")

    def handle(self, *args, database_url=None, **options):
        alias = "default"
        if database_url:
            try:
                load_config({"DATABASE_URL": database_url})
            except ConfigError as err:
                raise CommandError(str(err)) from None
            connections.settings["healthcheck"] = {**connections.settings["default"],
                                                   **connection_settings(database_url)}
            alias = "healthcheck"
        checks = asyncio.run(readiness(get_config(), database_alias=alias))
        for check in checks:
            if check.ok:
                self.stdout.write(f"ok    {check.name}: {check.detail} ({check.ms} ms)")
        failing = [check for check in checks if not check.ok]
        if failing:
            raise CommandError("\n".join(f"FAIL  {check.name}: {check.detail}" for check in failing))
