"""ASGI entry point (channels): HTTP is Django's; websockets join later."""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings")

application = ProtocolTypeRouter({"http": get_asgi_application()})
