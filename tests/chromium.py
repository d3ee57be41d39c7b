"""Headless Chromium for the browser tests (Debian's chromium and chromium-driver, which .ci/run installs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kernel.config import BASE_DIR

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = BASE_DIR / "test-artifacts"
NEEDS_CHROMIUM = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                                           "chromium-driver)")


@contextmanager
def headless_chromium(*, window: str) -> Iterator:
    """A selenium driver of a headless Chromium with a ``window`` of "width,height", quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--window-size={window}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
