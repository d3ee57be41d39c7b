"""ASGI entry point (channels): HTTP is Django's; websockets serve the offline sandbox's chat page (SANDBOX=true)."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.core.asgi import get_asgi_application

from kernel.config import get_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings")
get_config().require_secret_key()  # staff sessions are signed with it: never with a key made up per process

routes = {"http": get_asgi_application()}
if settings.SANDBOX:
    from sandbox.routing import websocket_urlpatterns

    routes["websocket"] = AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns))
application = ProtocolTypeRouter(routes)
