from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from tradingbot.dashboard import dashboard
from tradingbot.throttle import throttled_admin_login
from tradingbot.views import healthz, readyz

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="dashboard"),  # staff with a second factor
    path("admin/login/", throttled_admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", include("telegrambot.urls")),
    path("", include("django_prometheus.urls")),
]

if settings.SANDBOX:  # make sandbox: the web chat page over localnet
    urlpatterns.insert(0, path("sandbox/", include("sandbox.urls")))
