"""python manage.py staff_otp add USERNAME [--name NAME] | remove USERNAME [--name NAME] | list

Enrols the authenticator a staff member needs to sign in to the admin. ``add`` prints the otpauth:// address once
(to this terminal only, never to a log): scan it as a QR code or paste it into the authenticator app."""

from django.core.management.base import BaseCommand, CommandError

from custody import staff_otp


class Command(BaseCommand):
    help = "Enrol, remove or list the authenticators staff sign in to the admin with."

    def add_arguments(self, parser):
        parser.add_argument("command", choices=("add", "remove", "list"))
        parser.add_argument("username", nargs="?")
        parser.add_argument("--name", default=None, help="the device's name (default: authenticator)")

    def handle(self, *args, command, username=None, name=None, **options):
        if command == "list":
            rows = staff_otp.enrolled()
            if not rows:
                self.stdout.write("No authenticator is enrolled: nobody can sign in to the admin. Enrol one with: "
                                  "python manage.py staff_otp add <username>")
            for user, device, confirmed in rows:
                self.stdout.write(f"{user:<30} {device}{'' if confirmed else ' (not confirmed)'}")
            return
        if not username:
            raise CommandError(f"Say whose authenticator to {command}: python manage.py staff_otp {command} "
                               "<username>")
        try:
            if command == "add":
                device = staff_otp.add_device(username=username, name=name or "authenticator")
            else:
                removed = staff_otp.remove_devices(username=username, name=name)
        except staff_otp.StaffOTPError as err:
            raise CommandError(str(err)) from None
        if command == "remove":
            self.stdout.write(f"Removed {removed} authenticator(s) of {username}." if removed else
                              f"{username} had no such authenticator; nothing changed.")
            return
        # The one time the key is shown: stdout of this command, which is not a logger.
        self.stdout.write(f"Authenticator {device.name!r} enrolled for {username}. Add this to the app now (it is "
                          "not shown again):")
        self.stdout.write(device.config_url)
