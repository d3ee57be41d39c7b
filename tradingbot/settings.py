"""Django settings. Every value comes from ``kernel.config`` (the one reader of the environment)."""

from __future__ import annotations

from kernel.config import BASE_DIR, get_config
from kernel.db import connection_settings

CONFIG = get_config()

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)
TRUSTED_PROXIES = frozenset(CONFIG.trusted_proxies)  # read by kernel.clientip

INSTALLED_APPS = [
    "daphne",
    "custody.apps.StaffAdminConfig",  # django.contrib.admin, with staff sign-in requiring django-otp
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_prometheus",
    "channels",
    "tradingbot",
    "wallets",
    "positions",
    "telegrambot",
    "custody",
]
SANDBOX = CONFIG.sandbox
if SANDBOX:  # make sandbox: the web chat page over localnet (sandbox/); never in production
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "tradingbot.urls"
ASGI_APPLICATION = "tradingbot.asgi.application"
WSGI_APPLICATION = "tradingbot.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


DATABASES = {"default": connection_settings(CONFIG.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# JSON, never pickles: whoever can write to Redis must not be able to run code here (kernel/cache.py).
if CONFIG.redis_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.redis_url,
                          "OPTIONS": {"serializer": "kernel.cache.JSONSerializer"}}}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [CONFIG.redis_url]}}
    }
else:
    CACHES = {"default": {"BACKEND": "kernel.cache.JSONLocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

if not DEBUG:
    # Production: HTTPS only (behind a TLS-terminating proxy that sets X-Forwarded-Proto), except the probes and
    # the metrics endpoint that orchestrators call on the internal network.
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Staff sign-in second factor (django-otp): the name authenticator apps show; device keys never shown in the admin.
OTP_TOTP_ISSUER = "Solana trading bot admin"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        # httpx logs every request URL at INFO, and Telegram URLs carry the bot token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
        # The job queue's scheduler logs every run of every job at INFO (the monitor's every 2 s: nearly all of a
        # quiet bot's log). Its warnings (a job missed, a job still running) stay; DEBUG=true shows the runs.
        "apscheduler": {"level": "INFO" if DEBUG else "WARNING"},
    },
}
