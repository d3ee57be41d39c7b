"""python manage.py rotate_wallet_key [--new-key KEY] [--dry-run] [--batch-size N] [--limit N]"""

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from custody import audit
from tradingbot.config import get_config
from wallets.crypto import generate_key
from wallets.rotation import RotationReport, rotate_second_factors, rotate_wallets


class Command(BaseCommand):
    help = ("Re-seal every wallet secret with a new encryption key. Resumable: if interrupted, run it again with "
            "the same --new-key. Prints the WALLET_ENCRYPTION_KEY value to deploy.")

    def add_arguments(self, parser):
        parser.add_argument("--new-key", help="The new Fernet key (default: generate one), written --new-key=KEY "
                                              "(a key may start with '-'). Pass the same key to resume.")
        parser.add_argument("--dry-run", action="store_true", help="Check every wallet and report; change nothing.")
        parser.add_argument("--batch-size", type=int, default=100, help="Wallets per transaction (default 100).")
        parser.add_argument("--limit", type=int, help="Rotate at most this many wallets in this run (staged rollout).")

    def handle(self, *args, new_key=None, dry_run=False, batch_size=100, limit=None, **options):
        old_keys = get_config().wallet_encryption_keys
        if not old_keys:
            raise CommandError("WALLET_ENCRYPTION_KEY is not set, so there is nothing to rotate from. "
                               "Set the current key first.")
        if batch_size < 1 or (limit is not None and limit < 1):
            raise CommandError("--batch-size and --limit must be at least 1.")
        new_key = self._new_key(new_key)
        if new_key not in old_keys and not dry_run:
            self.stderr.write("Note: the configured WALLET_ENCRYPTION_KEY does not contain the new key, so a bot "
                              "running now cannot sign for re-sealed wallets until you deploy the value printed "
                              "below. Safer order: deploy WALLET_ENCRYPTION_KEY=<new>,<old> first, then rotate.")
        report = rotate_wallets(new_key=new_key, old_keys=old_keys, batch_size=batch_size, dry_run=dry_run,
                                limit=limit, progress=self._progress)
        factors, factor_failures = rotate_second_factors(new_key=new_key, old_keys=old_keys, dry_run=dry_run)
        self.stdout.write(f"{'Would re-seal' if dry_run else 'Re-sealed'} {factors} authenticator secret(s)"
                          + (f"; {len(factor_failures)} could not be opened (Telegram users "
                             f"{', '.join(map(str, factor_failures))})" if factor_failures else "") + ".")
        if not dry_run:
            audit.record(audit.Action.KEY_ROTATED, actor=audit.operator(), source="manage.py rotate_wallet_key",
                         wallets=report.rotated, second_factors=factors, failed=len(report.unopenable)
                         + len(report.mismatched) + len(factor_failures))
        self._summary(report, new_key, old_keys, dry_run)
        if not report.ok:
            raise CommandError(f"{len(report.unopenable) + len(report.mismatched)} wallet(s) could not be rotated "
                               "(listed above) and were left untouched. Add the key that sealed them to "
                               "WALLET_ENCRYPTION_KEY and run again.")

    def _new_key(self, given: str | None) -> str:
        if given is None:
            key = generate_key()
            self.stderr.write("Generated a new key. If this run is interrupted, resume with --new-key=<key> (the first "
                              "key of the WALLET_ENCRYPTION_KEY value printed at the end).")
            return key
        try:
            Fernet(given.encode())
        except (ValueError, TypeError):
            raise CommandError("--new-key is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                               "generate one with: python manage.py generate_encryption_key") from None
        return given.strip()

    def _progress(self, report: RotationReport) -> None:
        done = report.rotated + len(report.unopenable) + len(report.mismatched)
        self.stderr.write(f"  {done}/{report.to_rotate} wallets processed")

    def _summary(self, report: RotationReport, new_key: str, old_keys: tuple[str, ...], dry_run: bool) -> None:
        for public_key in report.unopenable:
            self.stderr.write(f"  cannot open wallet {public_key}: no configured key opens its secret")
        for public_key in report.mismatched:
            self.stderr.write(f"  wallet {public_key}: its secret opens to a different public key; left untouched")
        verb = "would re-seal" if dry_run else "re-sealed"
        self.stdout.write(f"{verb} {report.rotated} wallet(s); {report.already_current} already on the new key; "
                          f"{len(report.unopenable) + len(report.mismatched)} failed.")
        if dry_run:
            return
        remaining = report.to_rotate - report.rotated
        keys = ",".join([new_key, *[key for key in old_keys if key != new_key]])
        self.stdout.write("Deploy this value (new key first; keep the old ones until every wallet is rotated):")
        self.stdout.write(f"WALLET_ENCRYPTION_KEY={keys}")
        if remaining == 0:
            self.stdout.write("Every wallet is on the new key: after deploying, you may drop the old keys: "
                              f"WALLET_ENCRYPTION_KEY={new_key}")
        else:
            self.stdout.write(f"{remaining} wallet(s) are not rotated yet: run again with --new-key={new_key}")
