from django.core.management.base import BaseCommand

from wallets.crypto import generate_key


class Command(BaseCommand):
    help = "Print a new Fernet key for WALLET_ENCRYPTION_KEY. Store it in .env or your secret manager; never commit it."

    def handle(self, *args, **options):
        self.stdout.write(generate_key())
