"""What every seat of the real-sshd submit host may read besides its home: a directory of the sandbox's own,
/run/onboard-sandbox/<hash of DIR>/, root's and 0755 (sshd.py fills it), with the seats' login shell.

The seats share the machine's /tmp, where voms-proxy-init and grid-proxy-init put a proxy by default
(/tmp/x509up_u<uid>): a classmate who makes that name first (any file or link of theirs; sticky /tmp keeps
it theirs) makes both refuse to write the proxy. So each seat's login shell is /bin/sh with the default
proxy (X509_USER_PROXY, which both read) in the seat's own home, as a site with a per-user /tmp has it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PUBLIC_BASE = Path("/run/onboard-sandbox")

SEAT_SHELL = """#!/bin/sh
# the login shell of an onboard sandbox seat: /bin/sh, with the seat's proxy in its own home (not in /tmp,
# which every seat shares: another could take /tmp/x509up_u<uid> first)
X509_USER_PROXY="${X509_USER_PROXY:-$HOME/.x509up_u$(id -u)}"
export X509_USER_PROXY
case "$0" in -*) exec /bin/sh -l "$@" ;; esac
exec /bin/sh "$@"
"""


def public_dir(sandbox_dir: Path) -> Path:
    return PUBLIC_BASE / hashlib.sha256(str(Path(sandbox_dir)).encode()).hexdigest()[:16]


def seat_shell(sandbox_dir: Path) -> Path:
    """The seats' login shell (sshd only checks it is an executable file; PAM, off here, would read
    /etc/shells)."""
    return public_dir(sandbox_dir) / "seat-shell"
