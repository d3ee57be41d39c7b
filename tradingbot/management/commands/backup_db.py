"""python manage.py backup_db [--dir backups] [--keep 14] [--verify]"""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kernel.config import BASE_DIR, get_config
from tradingbot.backups import BackupError, backup, newest, verify


class Command(BaseCommand):
    help = "Back up the database into a folder of timestamped files, keeping the newest N; --verify restores the " \
           "newest into a scratch database and counts its rows."

    def add_arguments(self, parser):
        parser.add_argument("--dir", dest="directory", default=str(BASE_DIR / "backups"))
        parser.add_argument("--keep", type=int, default=14, help="how many backups to keep (default 14)")
        parser.add_argument("--verify", action="store_true", help="after backing up, prove the newest restores")
        parser.add_argument("--verify-only", action="store_true", help="verify the newest backup; make none")

    def handle(self, *args, directory, keep, verify=False, verify_only=False, **options):
        if keep < 1:
            raise CommandError("--keep must be at least 1.")
        directory, url = Path(directory), get_config().database_url
        try:
            if not verify_only:
                started = time.perf_counter()
                self.stderr.write("Backing up…")
                path = backup(url, directory, keep=keep)
                self.stdout.write(f"Backup written: {path} ({path.stat().st_size:,} bytes, "
                                  f"{time.perf_counter() - started:.2f} s)")
            if verify or verify_only:
                started = time.perf_counter()
                self.stderr.write("Verifying: restoring the newest backup into a scratch database…")
                result = verify_newest(directory, url)
                counts = ", ".join(f"{table} {count}" for table, count in result.counts.items())
                self.stdout.write(f"Verified {result.path.name}: {counts} ({time.perf_counter() - started:.2f} s)")
        except BackupError as err:
            raise CommandError(str(err)) from None


def verify_newest(directory: Path, url: str):
    return verify(newest(directory), url)
