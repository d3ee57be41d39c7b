"""The dashboard and the wallet pages in a real headless Chromium, after a real admin login (password and a code
from the staff member's enrolled authenticator)."""

from __future__ import annotations

import base64
import shutil

import pytest

from tests.chromium import ARTIFACTS, NEEDS_CHROMIUM, headless_chromium

pytestmark = [pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


@pytest.fixture
def browser():
    with headless_chromium(window="1400,1600") as driver:
        yield driver


def test_staff_sees_drawn_charts_and_no_secret(browser, live_server, django_user_model, keyring):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from solders.keypair import Keypair

    from custody.services import get_or_create_user_wallet
    from positions.models import Trade
    from tests.admin.otp import enrol, fresh_code

    wallet = get_or_create_user_wallet(4_000, "browser").wallet
    for index in range(4):
        Trade.objects.create(user=wallet, token_mint="M" * 44, token_decimals=6, side="buy", signature=f"b{index}",
                             status="confirmed" if index else "failed", lamports_in=(index + 1) * 10**8,
                             last_valid_block_height=1)
    django_user_model.objects.create_superuser("boss", "b@example.com", "a-strong-password-9")
    app = enrol("boss")  # the operator's manage.py staff_otp add boss; `app` is the phone's authenticator
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("boss")
    browser.find_element(By.NAME, "password").send_keys("a-strong-password-9")
    browser.find_element(By.NAME, "otp_token").send_keys(fresh_code("boss", app))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The click only starts the sign-in: leaving the page before its answer sets the session cookie lands on the
    # login form again. Wait for the admin's own page first.
    WebDriverWait(browser, 30).until(lambda driver: "/admin/login/" not in driver.current_url)
    browser.get(f"{live_server.url}/admin/dashboard/")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 5
    assert all(chart.size["width"] > 300 and chart.size["height"] > 100 for chart in charts)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    secret = keyring.open(wallet.encrypted_secret)
    secrets = [str(Keypair.from_bytes(secret)), secret.hex(), base64.b64encode(secret).decode(),
               wallet.encrypted_secret]
    for path in ("/admin/wallets/userwallet/", f"/admin/wallets/userwallet/{wallet.pk}/change/"):
        browser.get(f"{live_server.url}{path}")
        page = browser.page_source
        assert wallet.public_key in page
        assert not any(s in page for s in secrets), path
    browser.save_screenshot(str(ARTIFACTS / "wallet.png"))
    assert shutil.disk_usage(ARTIFACTS).free > 0
