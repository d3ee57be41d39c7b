"""python manage.py checkconfig [--webhook]: say every setting the bot still needs, before anything else runs."""

from django.core.management.base import BaseCommand, CommandError

from kernel.config import describe_missing, get_config


class Command(BaseCommand):
    help = ("Check that the bot can start: every invalid or missing setting is named at once. `make run` runs it "
            "before it migrates.")
    requires_system_checks: list[str] = []  # it must answer before anything touches the database

    def add_arguments(self, parser):
        parser.add_argument("--webhook", action="store_true", help="Also check the webhook settings.")

    def handle(self, *args, webhook=False, **options):
        missing = get_config().missing_to_run_bot(webhook=webhook)
        if missing:
            raise CommandError(describe_missing(missing).removeprefix("Configuration error: "), returncode=2)
        self.stdout.write("Configuration is complete.")
