"""python manage.py export_audit [--format csv|json] [--since YYYY-MM-DD] [--user TELEGRAM_ID] [--output FILE]"""

import csv
import io
import json
from datetime import date, datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from custody.admin.pages import AUDIT_EXPORT_FIELDS, event_as_dict
from custody.models import AuditEvent


class Command(BaseCommand):
    help = "Export the audit log (oldest first), as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=("csv", "json"), default="csv", dest="output_format")
        parser.add_argument("--since", help="first UTC day to include, YYYY-MM-DD")
        parser.add_argument("--user", type=int, help="only events about this Telegram user id")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, output_format, since=None, user=None, output=None, **options):
        events = AuditEvent.objects.order_by("created_at", "pk")
        if since:
            try:
                day = date.fromisoformat(since)
            except ValueError:
                raise CommandError(f"--since must be a day like 2026-11-01, not {since!r}.") from None
            events = events.filter(created_at__gte=timezone.make_aware(datetime.combine(day, time.min),
                                                                        timezone.utc))
        if user is not None:
            events = events.filter(user__telegram_user_id=user)
        rows = [event_as_dict(event) for event in events.iterator()]
        if output_format == "json":
            text = json.dumps(rows, indent=1)
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=AUDIT_EXPORT_FIELDS)
            writer.writeheader()
            writer.writerows({**row, "detail": json.dumps(row["detail"], sort_keys=True)} for row in rows)
            text = buffer.getvalue()
        if output:
            Path(output).write_text(text)
            self.stderr.write(f"Wrote {len(rows)} events to {output}")
        else:
            self.stdout.write(text)
