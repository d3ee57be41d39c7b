"""python manage.py rotate_wallet_key [--new-key-stdin] [--dry-run] [--batch-size N] [--limit N]

The new key comes from standard input (--new-key-stdin), from NEW_WALLET_ENCRYPTION_KEY, or is the first key of
WALLET_ENCRYPTION_KEY (the documented order: deploy NEW,OLD first, then rotate). Never from the command line, where
shell history and the process list keep it; and no key is ever printed, only fingerprints."""

import sys

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from custody import audit
from custody.rotation import RotationReport, rotate_second_factors, rotate_wallets
from kernel.config import get_config, new_wallet_key_from_environment
from wallets.crypto import fingerprint

COMMAND_LINE_KEY = ("A key on the command line stays in your shell history and shows in the process list, so "
                    "--new-key is no longer accepted. Deploy WALLET_ENCRYPTION_KEY=<new>,<old> and run this command "
                    "with no key, or pass the new key in NEW_WALLET_ENCRYPTION_KEY or on standard input "
                    "(--new-key-stdin).")


class Command(BaseCommand):
    help = ("Re-seal every wallet secret with a new encryption key: the first key of WALLET_ENCRYPTION_KEY, or the one "
            "given on standard input (--new-key-stdin) or in NEW_WALLET_ENCRYPTION_KEY. Resumable: if interrupted, "
            "run it again with the same key. Prints key fingerprints, never keys.")
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--new-key-stdin", action="store_true",
                            help="Read the new Fernet key from standard input (one line).")
        parser.add_argument("--new-key", help="Refused: a key on the command line leaks (shell history).")
        parser.add_argument("--dry-run", action="store_true", help="Check every wallet and report; change nothing.")
        parser.add_argument("--batch-size", type=int, default=100, help="Wallets per transaction (default 100).")
        parser.add_argument("--limit", type=int, help="Rotate at most this many wallets in this run (staged rollout).")

    def handle(self, *args, new_key_stdin=False, new_key=None, dry_run=False, batch_size=100, limit=None,
               **options):
        if new_key is not None:
            raise CommandError(COMMAND_LINE_KEY)
        old_keys = get_config().wallet_encryption_keys
        if not old_keys:
            raise CommandError("WALLET_ENCRYPTION_KEY is not set, so there is nothing to rotate from. "
                               "Set the current key first.")
        if batch_size < 1 or (limit is not None and limit < 1):
            raise CommandError("--batch-size and --limit must be at least 1.")
        new_key = self._new_key(old_keys, options.get("stdin") or sys.stdin if new_key_stdin else None)
        if new_key not in old_keys and not dry_run:
            self.stderr.write("Note: the configured WALLET_ENCRYPTION_KEY does not contain the new key, so a bot "
                              "running now cannot sign for re-sealed wallets until you deploy it. Safer order: "
                              "deploy WALLET_ENCRYPTION_KEY=<new>,<old> first, then rotate.")
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

    def _new_key(self, old_keys: tuple[str, ...], stream) -> str:
        if stream is not None:
            given, source = stream.readline().strip(), "standard input"
        else:
            given, source = new_wallet_key_from_environment(), "NEW_WALLET_ENCRYPTION_KEY"
        if not given and stream is None and len(old_keys) > 1:
            return old_keys[0]  # deployed NEW,OLD first, as documented: rotate to the key that seals new secrets
        if not given:
            raise CommandError(f"No new key: {source} is empty. Generate one with python manage.py "
                               "generate_encryption_key, deploy WALLET_ENCRYPTION_KEY=<new>,<old>, then run this "
                               "command again (it rotates to the first key).")
        try:
            Fernet(given.encode())
        except (ValueError, TypeError):
            raise CommandError(f"The new key from {source} is not a valid Fernet key (32 url-safe base64-encoded "
                               "bytes); generate one with: python manage.py generate_encryption_key") from None
        return given

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
        new = fingerprint(new_key)
        others = [fingerprint(key) for key in old_keys if key != new_key]
        self.stdout.write(f"New key: fingerprint {new}. Deploy WALLET_ENCRYPTION_KEY with the new key first, then the "
                          f"old ones (fingerprints {', '.join(others) or 'none'}) until every wallet is rotated.")
        remaining = report.to_rotate - report.rotated
        if remaining == 0:
            self.stdout.write(f"Every wallet is on the new key: after deploying, you may keep only the key with "
                              f"fingerprint {new} in WALLET_ENCRYPTION_KEY.")
        else:
            self.stdout.write(f"{remaining} wallet(s) are not rotated yet: run again with the same new key "
                              f"(fingerprint {new}).")
