"""python manage.py killswitch status | on ACTION [--user TELEGRAM_ID] [--reason TEXT] | off ACTION [--user ID]

ACTION is buys, sells, withdrawals, sniping or all. Without --user the switch applies to everyone."""

from django.core.management.base import BaseCommand, CommandError

from custody import audit, killswitch
from custody.models import KillSwitch
from wallets.models import UserWallet

ACTIONS = [choice.value for choice in KillSwitch.Action]


class Command(BaseCommand):
    help = "Pause or resume buys, sells, withdrawals, sniping or everything, for everyone or for one user."

    def add_arguments(self, parser):
        parser.add_argument("command", choices=("status", "on", "off"))
        parser.add_argument("action", nargs="?", choices=ACTIONS)
        parser.add_argument("--user", type=int, help="the Telegram user id (default: everyone)")
        parser.add_argument("--reason", default="", help="why (shown in the admin and the audit log)")

    def handle(self, *args, command, action=None, user=None, reason="", **options):
        if command == "status":
            rows = killswitch.summary()
            if not rows:
                self.stdout.write("No kill switch is on: everything runs.")
            for switch, scope in rows:
                self.stdout.write(f"PAUSED {switch:<12} for {scope}")
            return
        if action is None:
            raise CommandError(f"Say which action to switch {command}: one of {', '.join(ACTIONS)}.")
        wallet = None
        if user is not None:
            wallet = UserWallet.objects.filter(telegram_user_id=user).first()
            if wallet is None:
                raise CommandError(f"No wallet belongs to Telegram user {user}. Check the id in the admin.")
        scope = f"user {user}" if wallet else "everyone"
        actor, source = audit.operator(), "manage.py killswitch"
        if command == "on":
            changed = killswitch.pause(action, user=wallet, reason=reason, actor=actor, source=source)
            self.stdout.write(f"{action} paused for {scope}." if changed else f"{action} was already paused for "
                              f"{scope}; nothing changed.")
        else:
            changed = killswitch.resume(action, user=wallet, actor=actor, source=source)
            self.stdout.write(f"{action} resumed for {scope}." if changed else f"{action} was not paused for {scope}"
                              "; nothing changed.")
