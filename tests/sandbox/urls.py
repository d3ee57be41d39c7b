"""The project's URLs as SANDBOX=true serves them (the test settings run with it off)."""

from django.urls import include, path

from tradingbot.urls import urlpatterns as project

urlpatterns = [path("sandbox/", include("sandbox.urls")), *project]
