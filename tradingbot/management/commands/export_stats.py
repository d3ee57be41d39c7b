"""python manage.py export_stats --period week|month --format csv|json [--book real|paper] [--output FILE]"""

import csv
import io
import json
from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils import timezone

from positions.stats import daily_stats

COLUMNS = ("day", "users", "new_users", "active_traders", "trades", "confirmed", "failed", "success_rate",
           "volume_sol", "realized_pnl_sol")


class Command(BaseCommand):
    help = ("Users, active traders, trades, success rate, volume and realized PnL per UTC day: of real trading, or "
            "with --book paper of the paper books (never the two mixed).")

    def add_arguments(self, parser):
        parser.add_argument("--period", choices=("week", "month"), default="week")
        parser.add_argument("--format", choices=("csv", "json"), default="csv", dest="output_format")
        parser.add_argument("--book", choices=("real", "paper"), default="real",
                            help="real money (the default) or paper trading's figures")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, period, output_format, book="real", output=None, **options):
        rows = [day.as_row() for day in daily_stats(end=timezone.now().date(), days=7 if period == "week" else 30,
                                                    paper=book == "paper")]
        if output_format == "json":
            text = json.dumps({"period": period, "book": book, "days": rows}, indent=2)
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
            text = buffer.getvalue()
        if output:
            Path(output).write_text(text)
            self.stderr.write(f"Wrote {len(rows)} days to {output}")
        else:
            self.stdout.write(text)
