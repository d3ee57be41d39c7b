"""python manage.py restore_db FILE --yes-i-am-sure"""

import getpass
import logging
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kernel.config import get_config
from tradingbot.backups import BackupError, restore

logger = logging.getLogger("tradingbot.audit")


class Command(BaseCommand):
    help = "Replace the database's contents with a backup (verified first). Stop the bot and the web app before."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--yes-i-am-sure", action="store_true", help="confirm: the current data is replaced")

    def handle(self, *args, file, yes_i_am_sure=False, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path} does not exist.")
        if not yes_i_am_sure:
            raise CommandError("Restoring replaces every row in the database with the backup's. Stop the bot and the "
                               "web app, then run again with --yes-i-am-sure.")
        operator = getpass.getuser()
        started = time.perf_counter()
        self.stderr.write(f"Verifying and restoring {path.name}…")
        try:
            restore(path, get_config().database_url)
        except BackupError as err:
            raise CommandError(f"Nothing was restored: {err}") from None
        logger.warning("Database restored from %s by %s", path.name, operator)
        self.stdout.write(f"Restored {path.name} in {time.perf_counter() - started:.2f} s (by {operator}).")
