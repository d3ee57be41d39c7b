"""ASGI entry point (channels): HTTP is Django's; websockets join later."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

from kernel.config import get_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings")
get_config().require_secret_key()  # staff sessions are signed with it: never with a key made up per process

application = ProtocolTypeRouter({"http": get_asgi_application()})
