"""A real OpenSSH sshd on 127.0.0.1 playing the submit host.

Its own port, host keys, config file and pid file; one dedicated unprivileged user (created with useradd
when absent) whose home is emptied before each use; public-key authentication only. Several instances
may run at once (each test its own); a file lock keeps two test processes from sharing the user's home
at the same time.

Used by tests/delivery (fixtures below), bench/deliver and bench/demo (`SSHD` directly).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from onboard.sandbox.processes import descendants, free_port, spawn, wait_ready
from tests.lib import tiers

TEST_USER = "onboard-test"
_LOCK = (
    Path("/run/lock/onboard-test-user.lock")
    if Path("/run/lock").is_dir()
    else Path("/tmp/onboard-test-user.lock")
)


def ensure_user(name: str = TEST_USER) -> pwd.struct_passwd:
    """The test user: a normal account with a shell and a home, password login impossible."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise RuntimeError(f"user {name} is missing and only root can create it")
    subprocess.run(
        [
            "useradd",
            "--create-home",
            "--shell",
            "/bin/sh",
            "--comment",
            "onboard test submit host user",
            name,
        ],
        check=False,
        capture_output=True,
    )
    # '*' (not the default '!') so that sshd without PAM does not treat the account as locked
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    return pwd.getpwnam(name)


def make_client_key(path: Path) -> Path:
    """An ed25519 key pair for the test's onboard (path and path.pub), unencrypted."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "onboard-test-client", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def make_host_keys(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = directory / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "onboard-test-host", "-f", str(key)],
            check=True,
            capture_output=True,
        )
    return directory


def host_key_fingerprint(host_key_dir: Path) -> str:
    """SHA256:... of the server's ed25519 host key, as `ssh-keygen -l` prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(host_key_dir / "ssh_host_ed25519_key.pub")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


@dataclass
class SSHD:
    """One sshd. `start()` waits until it accepts connections; `stop()` ends it and its session children."""

    workdir: Path
    host_key_dir: Path
    user: str = TEST_USER
    port: int = 0
    path_env: str = "/usr/local/bin:/usr/bin:/bin"
    extra_config: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.user).pw_dir)

    @property
    def fingerprint(self) -> str:
        return host_key_fingerprint(self.host_key_dir)

    def known_hosts_line(self) -> str:
        pub = (self.host_key_dir / "ssh_host_ed25519_key.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "sshd_config"
        lines = [
            *self.extra_config,  # first: for sshd the first value of an option wins
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key_dir / 'ssh_host_ed25519_key'}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            f"AllowUsers {self.user}",
            "UsePAM no",
            "StrictModes yes",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            f"SetEnv PATH={self.path_env}",
            "LogLevel VERBOSE",
        ]
        if not any(x.startswith("MaxStartups") for x in self.extra_config):
            lines.append("MaxStartups 50:30:100")  # for this option the last value wins, not the first
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self) -> SSHD:
        tiers.guard("sshd")
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        if not self.port:
            self.port = free_port()
        cfg = self.write_config()
        self.proc = spawn([sshd, "-D", "-e", "-f", str(cfg)], self.workdir / "sshd.log")
        if wait_ready(self.proc, self._greets, 10, "sshd", self.log, interval=0.02):
            return self
        self.stop()
        raise RuntimeError("sshd did not start listening within 10 s")

    def _greets(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s,
        ):
            s.settimeout(1)
            return s.recv(4).startswith(b"SSH-")
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        # per-connection sshd processes call setsid(): find them (and their sessions) by parent pid
        for pid in reversed(descendants(self.proc.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=5)
        self.proc = None

    def log(self) -> str:
        p = self.workdir / "sshd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def connections(self) -> int:
        """How many SSH connections were accepted so far (from the VERBOSE log)."""
        return self.log().count("Connection from 127.0.0.1")

    def ssh_as_user(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command as the test user on the host directly (not through ssh): to inspect results."""
        return subprocess.run(
            ["runuser", "-u", self.user, "--", *argv],
            capture_output=True,
            text=True,
            check=check,
            cwd=self.home,
        )


@contextlib.contextmanager
def user_home(user: str = TEST_USER, authorized_key: Path | None = None) -> Iterator[Path]:
    """Exclusive use of the test user with an emptied home (and `authorized_key` allowed to log in)."""
    pw = ensure_user(user)
    _LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        home = Path(pw.pw_dir)
        reset_home(home, pw, authorized_key)
        try:
            yield home
        finally:
            reset_home(home, pw, None)


def reset_home(home: Path, pw: pwd.struct_passwd, authorized_key: Path | None) -> None:
    home.mkdir(mode=0o750, exist_ok=True)
    for child in home.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o750)
    if authorized_key is not None:
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700)
        ak = ssh / "authorized_keys"
        ak.write_text(Path(str(authorized_key) + ".pub").read_text())
        os.chmod(ak, 0o600)
        for p in (ssh, ak):
            os.chown(p, pw.pw_uid, pw.pw_gid)


def write_user_file(home: Path, rel: str, data: bytes, mode: int, user: str = TEST_USER) -> Path:
    """Put a file into the test user's home, owned by that user (to set up 'existing credentials')."""
    pw = pwd.getpwnam(user)
    path = home / rel
    for parent in reversed(path.relative_to(home).parents):
        d = home / parent
        if not d.exists():
            d.mkdir(mode=0o700)
            os.chown(d, pw.pw_uid, pw.pw_gid)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path
