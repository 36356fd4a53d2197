"""A real Dovecot IMAP server on loopback for tests: its own port, TLS with a test certificate, a
passwd-file with one test user, serving a Maildir root (e.g. the sandbox's DIR/mail, one Maildir per
address).

Dovecot never reads mail as root, so the mail processes run as `nobody`: the fixture lets `nobody`
traverse the directories above the Maildir root (o+x, no read) and hands the test user's Maildir to it;
the sandbox, running as root, still delivers into it. Started as root with a private configuration
(`dovecot -F -c FILE`: foreground, its own base_dir and instance name, so it never touches a system
Dovecot), stopped afterwards; the fixture checks that no process of its group is left.

    from tests.lib.servers.dovecot import start_dovecot
    with start_dovecot(tmp, maildir_root, user="jane@example.org") as imap:
        imap.port, imap.ca_file, imap.password
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from onboard.sandbox.processes import free_port, proc_stats
from tests.lib import tiers
from tests.lib.pki import issue, name


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    ca_file: Path
    maildir_root: Path
    log: Path
    process: subprocess.Popen

    def maildir(self, user: str | None = None) -> Path:
        return self.maildir_root / (user or self.user)


def _test_pki(d: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    def p256():  # EC keys: quick to make, and a quick handshake for a server started in every test
        return ec.generate_private_key(ec.SECP256R1())

    ca = issue(name(("CN", "Dovecot Test CA")), ca=True, days=2, key=p256())
    server = issue(name(("CN", "localhost")), ca, host="localhost", ips=("127.0.0.1",), days=2, key=p256())
    ca_file, cert_file, key_file = d / "ca.pem", d / "cert.pem", d / "key.pem"
    ca_file.write_bytes(ca.pem())
    cert_file.write_bytes(server.pem())
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(server.key_pem())
    return ca_file, cert_file, key_file


CONFIG = """\
# private test instance: nothing here touches a system Dovecot
instance_name = {instance}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
disable_plaintext_auth = yes
mail_location = maildir:{root}/%Lu
mail_uid = {uid}
mail_gid = {gid}
default_internal_user = {internal}
default_login_user = {login}
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {d}/passwd
}}
userdb {{
  driver = static
  args = home={d}/home/%Lu
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""


def _mail_owner() -> tuple[int, int]:
    import pwd

    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def _grant_traverse(path: Path) -> None:
    """o+x (search, not read) on `path` and its ancestors, so that the mail user can reach the Maildir."""
    import stat

    for p in [path, *path.parents]:
        if p == Path("/"):
            break
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(p, stat.S_IMODE(mode) | stat.S_IXOTH)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@contextlib.contextmanager
def start_dovecot(
    workdir: Path,
    maildir_root: Path,
    *,
    user: str = "jane@example.org",
    password: str | None = None,
    dovecot: str = "dovecot",
) -> Iterator[Dovecot]:
    tiers.guard("Dovecot")
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    for sub in ("run", "state", "home"):
        (d / sub).mkdir(mode=0o755, exist_ok=True)
    ca_file, _, _ = _test_pki(d)
    password = password or secrets.token_urlsafe(12)
    (d / "passwd").write_text(f"{user.lower()}:{{PLAIN}}{password}::::::\n")
    os.chmod(d / "passwd", 0o644)
    port = free_port()
    uid, gid = _mail_owner()
    box = maildir_root / user.lower()
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    _grant_traverse(maildir_root)
    for p in [box, *box.rglob("*")]:
        os.chown(p, uid, gid)
    home = d / "home" / user.lower()
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, uid, gid)
    internal = "dovecot" if _user_exists("dovecot") else "root"
    login = "dovenull" if _user_exists("dovenull") else internal
    (d / "dovecot.conf").write_text(
        CONFIG.format(
            instance=f"onboard-test-{secrets.token_hex(4)}",
            d=d,
            root=maildir_root,
            port=port,
            uid=uid,
            gid=gid,
            internal=internal,
            login=login,
        )
    )
    log = d / "dovecot.log"
    proc = subprocess.Popen(
        [dovecot, "-F", "-c", str(d / "dovecot.conf")],
        stdin=subprocess.DEVNULL,
        stdout=open(d / "stdout.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(port, proc, d)
        yield Dovecot("127.0.0.1", port, user, password, ca_file, maildir_root, log, proc)
    finally:
        _stop(proc)


def _wait_ready(port: int, proc: subprocess.Popen, d: Path, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("dovecot exited: " + _tail(d))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    if t.recv(100).startswith(b"* OK"):
                        return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("dovecot did not become ready: " + _tail(d))


def _tail(d: Path) -> str:
    out = []
    for log_name in ("stdout.log", "dovecot.log"):
        p = d / log_name
        if p.exists():
            out.append(p.read_text(errors="replace")[-1500:])
    return " | ".join(out)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the master (it stops its children), then make sure its whole process group is gone."""
    pgid = proc.pid  # start_new_session: the master leads its own group
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    end = time.monotonic() + 5
    while time.monotonic() < end and group_alive(pgid):
        time.sleep(0.05)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """Is any process of group `pgid` still there (zombies excluded)?"""
    return any(fields[0] != "Z" and int(fields[2]) == pgid for _pid, fields in proc_stats())


@pytest.fixture
def dovecot_factory(tmp_path):
    """Start Dovecots serving given Maildir roots: `dovecot_factory(maildir_root, user=...) -> Dovecot`.

    A missing dovecot skips locally and fails in CI; every instance is stopped (and checked gone) after
    the test.
    """
    from tests.lib.tools import require_tool

    binary = require_tool("dovecot")
    started: list[Dovecot] = []
    with contextlib.ExitStack() as stack:

        def start(
            maildir_root: Path, *, user: str = "jane@example.org", password: str | None = None
        ) -> Dovecot:
            d = tmp_path / f"dovecot-{len(started)}"
            dv = stack.enter_context(
                start_dovecot(d, Path(maildir_root), user=user, password=password, dovecot=binary)
            )
            started.append(dv)
            return dv

        yield start
    for dv in started:
        assert not group_alive(dv.process.pid), "a Dovecot process was left behind"


@pytest.fixture
def dovecot(dovecot_factory, tmp_path) -> Dovecot:
    """A Dovecot serving tmp_path/mail (one Maildir per address) for jane@example.org."""
    root = tmp_path / "mail"
    root.mkdir(mode=0o700, exist_ok=True)
    return dovecot_factory(root)
