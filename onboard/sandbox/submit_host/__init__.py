"""The sandbox's submit host: an SSH server (paramiko) on loopback, enough to practise delivery.

* its own Ed25519 host key (DIR/submit/ssh_host_ed25519_key), whose SHA256 fingerprint the sandbox prints;
* one home per user under DIR/submit/home/<user>; a user logs in with a public key listed in that
  home's .ssh/authorized_keys (public-key authentication only: no passwords);
* `exec` runs the command with /bin/sh -c in the home (HOME, USER, LOGNAME, SHELL, PATH set; stdin,
  stdout, stderr and the exit status passed through), so openssl, chmod, ls, mkdir, mv, cat, test, umask
  and sh work as on a cluster's login node, and the scp protocol (`scp -O`, which runs `scp -t`) too;
* `shell` runs /bin/sh without a terminal; the `sftp` subsystem serves files inside the home only.

Each trainee is confined to their own home by bubblewrap (confine.py): commands, shells and SFTP
(OpenSSH's sftp-server) see the system read-only, the public trust directory and their home, nothing of
the sandbox's directory or of other homes. Without bubblewrap the host runs unconfined and listens on
loopback only (a non-loopback address is refused, with the reason).

With root (a classroom VM), the submit host is instead Debian's OpenSSH sshd with a real Unix account per
seat (sshd.py, accounts.py), exactly like a cluster's login node; `uses_sshd(settings)` says which.

Modules: homes (users, their homes and authorized keys: `Homes`), keys (host key, fingerprints,
authorized_keys lines), server (`SubmitHost`: the SSH server, exec and shell), confine (bubblewrap),
sftp (paramiko's SFTP inside the home, used only unconfined on loopback), sshd (the real sshd), accounts
(the seats' Unix accounts and the ledger that `sandbox down` removes them by).
"""

from __future__ import annotations

from pathlib import Path

from onboard.errors import SandboxError
from onboard.sandbox.submit_host.homes import USER_NAME_OK, Homes
from onboard.sandbox.submit_host.keys import fingerprint, load_or_make_host_key
from onboard.sandbox.submit_host.server import SubmitHost

__all__ = ["USER_NAME_OK", "Homes", "SubmitHost", "cert_dir", "fingerprint", "homes_for",
           "load_or_make_host_key", "uses_sshd"]
KINDS = ("auto", "sshd", "paramiko")


def uses_sshd(settings) -> bool:
    """Whether the submit host is the real sshd: `auto` (the default) with root and openssh-server."""
    from onboard.sandbox.submit_host import sshd

    kind = getattr(settings, "submit_host", "auto")
    if kind == "sshd" and not sshd.available():
        raise SandboxError("the real sshd submit host (--submit-host sshd) needs root and openssh-server.",
                           "Run the sandbox as root, or choose --submit-host auto.")
    return kind == "sshd" or (kind == "auto" and sshd.available())


def homes_for(sandbox_dir: Path, settings) -> Homes:
    """The homes of the submit host of `sandbox_dir` (a seat's Unix account with sshd), running or not."""
    root = Path(sandbox_dir) / "submit"
    if uses_sshd(settings):
        from onboard.sandbox.submit_host.accounts import AccountHomes

        return AccountHomes(root, Path(sandbox_dir))
    return Homes(root)


def cert_dir(sandbox_dir: Path, settings, trust_dir: Path) -> str:
    """The trust directory as the submit host's sessions see it (the sandbox's own is root's with sshd)."""
    if uses_sshd(settings):
        from onboard.sandbox.submit_host.sshd import public_dir

        return str(public_dir(Path(sandbox_dir)) / "certificates")
    return str(trust_dir)



