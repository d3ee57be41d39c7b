"""python manage.py prune_snipes [--days N]: delete skipped launches and skipped snipes past the retention period."""

from django.core.management.base import BaseCommand, CommandError

from kernel.config import get_config
from positions.sniping import prune_snipes


class Command(BaseCommand):
    help = ("Delete skipped launches and per-user skipped snipes older than SNIPE_RETENTION_DAYS (the bot also does "
            "this every hour). Bought and failed snipes are kept.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help="Keep this many days instead of SNIPE_RETENTION_DAYS (at least 1).")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 1:
            raise CommandError(f"--days must be at least 1 (got {days}); for example --days 7.")
        days = days if days is not None else get_config().snipe_retention_days
        launches, skips = prune_snipes(days=days)
        self.stdout.write(f"Deleted {launches} skipped launch(es) and {skips} skipped snipe(s) older than {days} "
                          "day(s).")
