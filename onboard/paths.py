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


def config_file() -> Path:
    """Where onboard reads its configuration unless told otherwise (here, not in onboard.config: a command
    that only writes the file, `sandbox join`, has no need of the models and their pydantic)."""
    return config_dir() / "config.toml"


def state_dir() -> Path:
    """Journey records, their history and locks. Never a secret here."""
    return _path("state")


def data_dir() -> Path:
    """onboard's own files that are not state: downloaded PKCS#12 files moved out of ~/Downloads, keys
    made by `onboard keygen`. Secrets live here, each file 0600 in a 0700 directory."""
    return _path("data")


def ensure_private_dir(path: Path) -> Path:
    """`path` as a directory only its owner controls: each missing component (parents too) is made 0700
    whatever the umask (as XDG asks), and an existing one is refused when it belongs to someone else or
    others may write to it, since whoever can write there can swap or plant onboard's files."""
    missing = []
    p = path
    while not os.path.isdir(p):
        if os.path.lexists(p):
            _refuse(p, "is not a directory")
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass  # made meanwhile by another onboard: checked below like any existing directory
        else:
            os.chmod(d, 0o700)  # mkdir's mode is cut by the umask, never widened: make it exact
    check_private_dir(path)
    return path


def check_private_dir(path: Path | str) -> None:
    """Refuse a directory owned by another user or writable by group or others (as GCT does for ~/.globus)."""
    why = unsafe_dir_reason(path)
    if why:
        _refuse(path, why)


def unsafe_dir_reason(path: Path | str) -> str:
    """Why others could change what is in `path` (a link is followed, as every reader does), or ''."""
    st = os.stat(path)
    if st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"may be written by group or others (mode {st.st_mode & 0o777:04o})"
    return ""


def _refuse(path: Path | str, why: str):
    from onboard.errors import UnsafePathError

    raise UnsafePathError(
        f"{path} {why}: onboard keeps private files there and will not use it.",
        f"Make it yours and private (`chown $USER {path}; chmod 700 {path}`), or remove it, then run again.",
    )
