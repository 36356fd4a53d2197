"""Where onboard keeps its files: platform directories (platformdirs), overridable for tests and sandboxes."""

from __future__ import annotations

import os
from pathlib import Path

APP = "onboard"


def _platform(kind: str) -> Path:
    import platformdirs  # light, but only needed when no override is set

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))


def config_dir() -> Path:
    return _platform("config")


def state_dir() -> Path:
    """Journey records, their history and locks. Never a secret here."""
    env = os.environ.get("ONBOARD_STATE_DIR")
    return Path(env).expanduser() if env else _platform("state")


def data_dir() -> Path:
    """onboard's own files that are not state: downloaded PKCS#12 files moved out of ~/Downloads, keys
    made by `onboard keygen`. Secrets live here, each file 0600 in a 0700 directory."""
    env = os.environ.get("ONBOARD_DATA_DIR")
    return Path(env).expanduser() if env else _platform("data")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700 if missing; an existing directory is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
