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

Modules: homes (users, their homes and authorized keys: `Homes`), keys (host key, fingerprints,
authorized_keys lines), server (`SubmitHost`: the SSH server, exec and shell), confine (bubblewrap),
sftp (paramiko's SFTP inside the home, used only unconfined on loopback).
"""

from onboard.sandbox.submit_host.homes import USER_NAME_OK, Homes
from onboard.sandbox.submit_host.keys import fingerprint, load_or_make_host_key
from onboard.sandbox.submit_host.server import SubmitHost

__all__ = ["USER_NAME_OK", "Homes", "SubmitHost", "fingerprint", "load_or_make_host_key"]
