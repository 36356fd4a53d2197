"""Each trainee's commands and SFTP confined to that trainee's home, with bubblewrap (Debian `bubblewrap`).

Inside, a trainee sees the system's programs and libraries read-only (/usr and its links), the few /etc
files programs read (none secret), the sandbox's public trust directory read-only, a private /tmp, /proc and
/dev, and their own home, read-write, at its real path (so absolute paths work as on a login node). Not
there: other trainees' homes, the sandbox's directory (its CA key, the mail, the database), the instructor's
files. Links a trainee makes resolve inside this view, so `ln -s .../ca/private/root.key` leads nowhere.
Own PID, IPC, UTS and mount namespaces; the network is shared (voms-proxy-init must reach the VOMS server).
Run by root, bwrap drops every capability of the command (--cap-drop ALL): the mount view is then fixed.

Without bubblewrap the submit host runs unconfined, which is only acceptable on a loopback address:
`require_for(bind)` refuses any other address and says why.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

from onboard.errors import SandboxError

# what programs read in /etc (nothing secret: no shadow, no ssh host keys, no sudoers)
ETC = ("alternatives", "ssl", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf",
       "hosts", "host.conf", "resolv.conf", "gai.conf", "passwd", "group", "vomses", "grid-security", "voms",
       "profile", "environment", "mime.types", "protocols", "services")
SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/sftp-server")


@functools.lru_cache(maxsize=1)
def bwrap() -> str | None:
    """bwrap's path if it is installed and can make its namespaces here (a container may forbid it)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    try:
        ok = subprocess.run([*_base(exe), "--", "/bin/true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return exe if ok else None


def sftp_server() -> str | None:
    return next((p for p in SFTP_SERVERS if os.access(p, os.X_OK)), None)


def is_loopback(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return bind == "localhost"


def require_for(bind: str) -> None:
    """Refuse a non-loopback address when trainees cannot be confined."""
    if not is_loopback(bind) and bwrap() is None:
        raise SandboxError(
            f"the submit host cannot confine trainees here (bubblewrap is missing or cannot run), so it will "
            f"not listen on {bind}: any trainee could read the CA key and every other trainee's files.",
            "Install Debian's bubblewrap (apt-get install bubblewrap), or keep the sandbox on 127.0.0.1.",
        )


def _base(exe: str) -> list[str]:
    argv = [exe, "--unshare-all", "--share-net", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]  # root's capabilities would let it remount what it sees
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = Path("/") / top
        if p.is_symlink():
            argv += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            argv += ["--ro-bind", str(p), str(p)]
    for name in ETC:
        if (Path("/etc") / name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return argv + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]


def wrap(home: Path, argv: list[str], read_only: list[Path]) -> list[str]:
    """`argv` run by bwrap, seeing only what the module docstring lists, in `home`."""
    exe = bwrap()
    if exe is None:
        raise SandboxError("bubblewrap is not available to confine the submit host's commands.",
                           "Install Debian's bubblewrap.")
    out = _base(exe)
    for d in read_only:
        if Path(d).is_dir():
            out += ["--ro-bind", str(d), str(d)]
    return out + ["--bind", str(home), str(home), "--chdir", str(home), "--", *argv]
