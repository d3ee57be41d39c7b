from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from kernel.config import TradingConfig, get_config

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Offline sandbox"

    def ready(self) -> None:
        if getattr(settings, "SANDBOX", False):  # a test may install the app and hand the consumer its own localnet
            require_localnet(get_config())


def require_localnet(config: TradingConfig) -> None:
    """The page hands out localnet SOL and shows the demo staff member's sign-in code: only ever against localnet."""
    for name, url in (("TELEGRAM_API_BASE_URL", config.telegram_api_base_url),
                      ("SOLANA_RPC_URL", config.solana_rpc_url), ("JUPITER_API_URL", config.jupiter_api_url)):
        if urlsplit(url or "").hostname not in LOOPBACK:
            raise ImproperlyConfigured(f"SANDBOX=true runs only against localnet on this machine, but {name} is "
                                       f"{url or 'not set'}: start it with `make sandbox`, or set SANDBOX=false.")
