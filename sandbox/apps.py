from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kernel.config import get_config

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Offline sandbox"

    def ready(self) -> None:
        # The page hands out localnet SOL and shows the demo staff member's sign-in code: only ever against localnet.
        if not getattr(settings, "SANDBOX", False):
            return  # installed by a test, which hands the consumer its own localnet
        config = get_config()
        for name, url in (("TELEGRAM_API_BASE_URL", config.telegram_api_base_url),
                          ("SOLANA_RPC_URL", config.solana_rpc_url)):
            if urlsplit(url or "").hostname not in LOOPBACK:
                raise ImproperlyConfigured(f"SANDBOX=true runs only against localnet on this machine, but {name} is "
                                           f"{url or 'not set'}: start it with `make sandbox`, or set SANDBOX=false.")
