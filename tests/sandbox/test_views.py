"""The sandbox exists only when asked for, and only against localnet; its page knows who you are across reloads
and shows the demo staff member's current sign-in code."""

from __future__ import annotations

import pyotp
import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured

from kernel.config import load_config
from sandbox.apps import require_localnet
from sandbox.consumers import CHAT_SALT
from sandbox.demo import DEMO_STAFF_PASSWORD, DEMO_STAFF_USERNAME
from tests.settings import TEST_WALLET_KEY


@pytest.fixture
def sandbox_on(settings):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "sandbox"]
    settings.ROOT_URLCONF = "tests.sandbox.urls"
    return settings


def test_without_sandbox_there_is_no_page_and_no_websocket(client, db):
    from django.conf import settings

    from tradingbot.asgi import application

    assert not settings.SANDBOX and "sandbox" not in settings.INSTALLED_APPS
    assert client.get("/sandbox/").status_code == 404
    assert "websocket" not in application.application_mapping


def test_the_page_keeps_one_telegram_user_per_browser(client, db, sandbox_on):
    first = client.get("/sandbox/")
    assert first.status_code == 200
    user_id = client.session["sandbox_user_id"]
    assert signing.loads(first.context["chat_token"], salt=CHAT_SALT) == user_id
    assert client.get("/sandbox/").context["user_id"] == user_id
    page = first.content.decode()
    assert "/static/sandbox/chat.js" in page and "http" not in page.split("<body>")[0].replace(
        'name="viewport"', "")  # nothing fetched from the network: no CDN
    assert DEMO_STAFF_USERNAME in page and DEMO_STAFF_PASSWORD in page


def test_the_staff_code_is_the_one_the_demo_authenticator_shows(client, db, sandbox_on, django_user_model):
    from tests.admin.otp import enrol

    assert client.get("/sandbox/staff-code/").json()["code"] is None
    django_user_model.objects.create_superuser(DEMO_STAFF_USERNAME, "demo@sandbox.invalid", DEMO_STAFF_PASSWORD)
    app: pyotp.TOTP = enrol(DEMO_STAFF_USERNAME)
    before = app.now()
    answer = client.get("/sandbox/staff-code/").json()
    assert answer["code"] in (before, app.now())  # a step may turn between the two reads
    assert 0 < answer["seconds_left"] <= 30


@pytest.mark.parametrize(("name", "value"), [("TELEGRAM_API_BASE_URL", "https://api.telegram.org"),
                                             ("SOLANA_RPC_URL", "https://api.mainnet-beta.solana.com"),
                                             ("JUPITER_API_URL", "https://api.jup.ag")])
def test_the_sandbox_refuses_to_run_against_anything_but_localnet(name, value):
    local = {"TELEGRAM_API_BASE_URL": "http://127.0.0.1:9000", "SOLANA_RPC_URL": "http://127.0.0.1:9001",
             "JUPITER_API_URL": "http://127.0.0.1:9002", "WALLET_ENCRYPTION_KEY": TEST_WALLET_KEY}
    require_localnet(load_config(local))
    with pytest.raises(ImproperlyConfigured, match=name):
        require_localnet(load_config({**local, name: value}))
