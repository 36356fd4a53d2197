"""A real browser for the tests: Debian's chromium, headless, driven through its chromium-driver (selenium).

Each browser gets its own HOME (so its NSS database, ~/.pki/nssdb, where chromium on Linux looks for
client certificates, is the test's own) and its own profile directory. Screenshots the tests keep as
artefacts go to ARTEFACTS (test-artefacts/ at the repository root, or $ONBOARD_TEST_ARTEFACTS).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.lib import tiers
from tests.lib.tools import ROOT, require_tool

ARTEFACTS = Path(os.environ.get("ONBOARD_TEST_ARTEFACTS") or ROOT / "test-artefacts")


@contextmanager
def chromium(home: Path, *, width: int = 1600, height: int = 1000, client_cert_origins: tuple[str, ...] = (),
             extra_args: tuple[str, ...] = ()) -> Iterator[object]:
    """A headless chromium (a selenium WebDriver) whose HOME is `home`; closed on leaving.

    Client certificates come from HOME's NSS database (import them as a user does, e.g. with
    `onboard browser-import`). A headless browser cannot answer the "select a certificate" dialog, so for
    each origin in client_cert_origins ("https://host:port") the profile auto-selects the certificate,
    the content setting a person's "remember this decision" stores (without it the page load hangs).
    """
    tiers.guard("chromium")  # a browser process: the servers tier
    binary = require_tool("chromium")
    driver_path = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home.mkdir(parents=True, exist_ok=True)
    profile = home / "chromium-profile"
    if client_cert_origins:
        (profile / "Default").mkdir(parents=True, exist_ok=True)
        auto = {f"{origin},*": {"setting": {"filters": [{}]}} for origin in client_cert_origins}
        prefs = {"profile": {"content_settings": {"exceptions": {"auto_select_certificate": auto}}}}
        (profile / "Default" / "Preferences").write_text(json.dumps(prefs))
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox",  # root in CI: chromium's own sandbox needs a user
                "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--password-store=basic",
                f"--user-data-dir={profile}", f"--window-size={width},{height}",
                *extra_args):
        options.add_argument(arg)
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    service = Service(executable_path=driver_path, env=env, log_output=str(home / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def keep_screenshot(driver, name: str) -> Path:
    """Save what the browser shows as test-artefacts/NAME.png (kept after the run) and return the path."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
