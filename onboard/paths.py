"""Where onboard keeps its files: platform directories (platformdirs), overridable for tests and sandboxes.

On Linux the XDG rules are applied here directly: importing platformdirs pulls in pathlib, tempfile and
shutil, more than all of `onboard status` may take to start. A test checks both give the same answer.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # keep pathlib out of start-up (see locate)
if TYPE_CHECKING:
    from pathlib import Path

APP = "onboard"

# kind -> (override variable, XDG variable, default under the home directory)
_KINDS = {
    "config": (None, "XDG_CONFIG_HOME", "~/.config"),
    "state": ("ONBOARD_STATE_DIR", "XDG_STATE_HOME", "~/.local/state"),
    "data": ("ONBOARD_DATA_DIR", "XDG_DATA_HOME", "~/.local/share"),
}


def locate(kind: str) -> str:
    """The directory for `kind` (config, state or data) as text, without importing pathlib."""
    override, xdg, default = _KINDS[kind]
    if override and os.environ.get(override):
        return os.path.expanduser(os.environ[override])
    if sys.platform.startswith("linux"):
        base = os.environ.get(xdg, "")
        if not base.startswith("/"):  # unset, empty or relative: XDG says ignore it
            base = os.path.expanduser(default)
        if base.startswith("/"):  # a relative HOME is platformdirs' corner case, not ours
            return os.path.join(base, APP)
    import platformdirs

    return getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False)


def _path(kind: str) -> Path:
    from pathlib import Path

    return Path(locate(kind))


def config_dir() -> Path:
    return _path("config")


def state_dir() -> Path:
    """Journey records, their history and locks. Never a secret here."""
    return _path("state")


def data_dir() -> Path:
    """onboard's own files that are not state: downloaded PKCS#12 files moved out of ~/Downloads, keys
    made by `onboard keygen`. Secrets live here, each file 0600 in a 0700 directory."""
    return _path("data")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700 if missing; an existing directory is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
