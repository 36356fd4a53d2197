"""The person's own web browser: open a page in it when there is a display, never a text browser on a
terminal (a page a person must act on is printed instead)."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit


def has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def is_web_page(url: str) -> bool:
    """An https:// page with a host, in one printable ASCII word: never a file:, javascript: or data: URL
    (a browser runs those with the person's rights), an option for the browser's command, or two arguments."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def open_page(url: str, *, allowed: bool = True) -> bool:
    """True when the page was handed to a graphical browser; False when the caller must print it."""
    if not url or not allowed or not has_display() or os.environ.get("ONBOARD_NO_BROWSER"):
        return False
    if not is_web_page(url):  # whatever a configuration or a server put there
        return False
    import webbrowser

    try:
        return bool(webbrowser.open(url, new=2))
    except Exception:  # a broken browser setup must not stop the journey
        return False
