import os

from django.core.wsgi import get_wsgi_application

from kernel.config import get_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingbot.settings")
get_config().require_secret_key()  # staff sessions are signed with it: never with a key made up per process

application = get_wsgi_application()
