"""What onboard hands to the person's browser (onboard/adapters/desktop.py): only an https:// page with a
host, given as one argument, whatever a configuration or a server put in front of it. The browser here is
a real command (BROWSER names it, as Python's webbrowser module reads it) that records its argv."""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path

import pytest

from onboard.adapters import desktop


@pytest.fixture
def recording_browser(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "argv"
    script = tmp_path / "browser"
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'a').write(repr(sys.argv[1:]) + "
                      "'\\n')\n")
    script.chmod(0o700)
    monkeypatch.setenv("BROWSER", str(script))
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("ONBOARD_NO_BROWSER", raising=False)
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # the module reads BROWSER once: read it again
    monkeypatch.setattr(webbrowser, "_browsers", {})
    return log


def _opened(log: Path) -> list[str]:
    import time

    deadline = time.monotonic() + 10  # the browser command runs in the background
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.05)
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "javascript:alert(document.cookie)", "data:text/html,<script>x</script>",
    "http://localhost:8444/iam/cms/login", "--remote-debugging-port=9222", "https:///no-host",
    "https://localhost:8444/iam/cms/login\n--incognito", "https://localhost:8444/a b",
], ids=["file", "javascript", "data", "http", "option", "no-host", "newline", "space"])
def test_only_an_https_page_reaches_the_browser(recording_browser, url):
    assert desktop.open_page(url) is False  # the caller prints it instead
    assert not recording_browser.exists() or recording_browser.read_text() == ""


def test_an_https_page_is_opened_as_one_argument(recording_browser):
    url = "https://localhost:8444/iam/cms/start-registration"
    assert desktop.open_page(url) is True
    assert _opened(recording_browser) == [repr([url])]
    assert os.environ["BROWSER"]  # the recording browser, not the person's
