"""The submit host as a cluster's login node, when the sandbox runs as root: Debian's OpenSSH sshd, run by
the sandbox as a process of its own, with a real Unix account per seat (accounts.py).

Its configuration (DIR/submit/sshd_config) is the sandbox's own, next to its own host key (the same
DIR/submit/ssh_host_ed25519_key whose fingerprint the sandbox prints): the sandbox's port and address,
public-key login only, no root, only the accounts of the sandbox's group, ~/.ssh/authorized_keys under
StrictModes, internal-sftp, no forwarding of any kind, and limits sized for a room of 100.

What every seat may read besides its home is published in a public directory of the sandbox's own,
/run/onboard-sandbox/<hash of DIR>/ (the sandbox's directory stays root's, 0700): `certificates` (the
trust directory, X509_CERT_DIR) and the VOs' `vomses` and `vomsdir` (VOMS_USERCONF, X509_VOMS_DIR), set
for every session by sshd (SetEnv) the way a site's grid environment sets them — the system's own
/etc/vomses and /etc/grid-security are never touched.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from onboard.errors import SandboxError
from onboard.sandbox.processes import descendants, free_port, spawn, tool, wait_ready
from onboard.sandbox.submit_host import confine
from onboard.sandbox.submit_host.accounts import AccountHomes
from onboard.sandbox.submit_host.keys import fingerprint, load_or_make_host_key
from onboard.sandbox.submit_host.public import PUBLIC_BASE, SEAT_SHELL, public_dir

START_TIMEOUT = 15.0


def available() -> bool:
    return os.geteuid() == 0 and tool("sshd") is not None


class SSHDHost(AccountHomes):
    confined = True  # each trainee is a Unix user of their own

    def __init__(self, root: Path, sandbox_dir: Path, bind: str = "127.0.0.1", port: int = 0, log=None,
                 trust_dir: Path | None = None):
        if not available():
            raise SandboxError("the real sshd submit host needs root and Debian's openssh-server.",
                               "Run the sandbox as root with openssh-server installed, or without root.")
        super().__init__(root, sandbox_dir)
        self.bind = bind
        self.log = log or (lambda msg: None)
        self.trust_dir = trust_dir
        self.public = public_dir(sandbox_dir)
        self.host_key = load_or_make_host_key(self.root / "ssh_host_ed25519_key")
        self.fingerprint = fingerprint(self.host_key)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.config_path = self.root / "sshd_config"
        self.pid_file = self.root / "sshd.pid"

    # -- what every seat may read ---------------------------------------------------------------------
    def publish(self, voms: dict[str, tuple[str, dict[str, list[str]]]]) -> None:
        """The public directory: trust anchors and, per VO, its vomses line and LSC files ({vo: (line,
        {host: [DN, CA DN]})}). Rewritten whole (e.g. when the VOMS server's port changes)."""
        PUBLIC_BASE.mkdir(mode=0o755, exist_ok=True)
        fresh = self.public.with_name(self.public.name + ".new")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(mode=0o755)
        if self.trust_dir is not None:
            shutil.copytree(self.trust_dir, fresh / "certificates", symlinks=True)
        (fresh / "vomses").mkdir(mode=0o755)
        for vo, (line, lsc) in voms.items():
            (fresh / "vomses" / vo).write_text(line + "\n")
            (fresh / "vomsdir" / vo).mkdir(mode=0o755, parents=True)
            for host, dns in lsc.items():
                (fresh / "vomsdir" / vo / f"{host}.lsc").write_text("\n".join(dns) + "\n")
        for p in [fresh, *fresh.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        (fresh / "seat-shell").write_text(SEAT_SHELL)  # the seats' login shell (public.py says why)
        os.chmod(fresh / "seat-shell", 0o755)
        old = self.public.with_name(self.public.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.public.exists():
            os.rename(self.public, old)
        os.rename(fresh, self.public)
        shutil.rmtree(old, ignore_errors=True)

    def write_config(self) -> Path:
        loopback = confine.is_loopback(self.bind)
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.bind}",
            f"HostKey {self.root / 'ssh_host_ed25519_key'}",
            f"PidFile {self.pid_file}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "PermitEmptyPasswords no",
            "PermitRootLogin no",
            f"AllowGroups {self.accounts.group}",
            "UsePAM no",
            "StrictModes yes",
            "DisableForwarding yes",
            "PermitTunnel no",
            "PermitUserEnvironment no",
            "PermitUserRC no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            f"SetEnv PATH={_session_path()} X509_CERT_DIR={self.public}/certificates "
            f"VOMS_USERCONF={self.public}/vomses X509_VOMS_DIR={self.public}/vomsdir",
            "LoginGraceTime 30",
            "MaxAuthTries 6",
            "MaxSessions 10",
            "MaxStartups 100:30:300",  # a room of 100 connecting at once, then refusing more and more
            "ClientAliveInterval 60",
            "ClientAliveCountMax 3",
            "LogLevel VERBOSE",
        ]
        # per source address: on loopback every trainee has the same one (a bench, the tests), so no limit
        # there; elsewhere a stranger's flood or password guessing slows only that stranger
        if not loopback:
            lines.append("PerSourceMaxStartups 10")
        if _version() >= (9, 8):  # PerSourcePenalties came with OpenSSH 9.8 (on by default there)
            lines.append("PerSourcePenalties no" if loopback else "PerSourcePenalties yes")
        self.config_path.write_text("\n".join(lines) + "\n")
        os.chmod(self.config_path, 0o600)
        return self.config_path

    # -- life cycle ---------------------------------------------------------------------------------------
    def start(self, voms: dict | None = None) -> SSHDHost:
        removed = clean_up(self.root.parent)  # what a crashed sandbox left
        if removed:
            self.log(f"ssh: removed the accounts a stopped sandbox left: {' '.join(removed)}")
        self.accounts.ensure_group()
        self.publish(voms or {})
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        sshd = tool("sshd") or "/usr/sbin/sshd"
        check = subprocess.run([sshd, "-t", "-f", str(self.write_config())], capture_output=True, text=True)
        if check.returncode != 0:
            raise SandboxError(f"sshd refuses the sandbox's configuration: {check.stderr.strip()[:300]}",
                               f"See {self.config_path}.")
        self.proc = spawn([sshd, "-D", "-e", "-f", str(self.config_path)], self.root / "sshd.log")
        limit_seats(self.proc.pid)
        try:
            ok = wait_ready(self.proc, self._greets, START_TIMEOUT, "sshd", self._log_tail, interval=0.05)
        except RuntimeError as e:
            ok, why = False, str(e)
        else:
            why = f"it did not answer within {START_TIMEOUT:.0f} s"
        if not ok:
            self._kill()
            raise OSError(f"sshd did not start: {why[-300:]}")
        self.log(f"ssh: OpenSSH sshd (pid {self.proc.pid}) on {self.bind}:{self.port}, group {self.group}")
        return self

    @property
    def group(self) -> str:
        return self.accounts.group

    def _greets(self) -> bool:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::", "") else self.bind
        with contextlib.suppress(OSError), socket.create_connection((host, self.port), timeout=0.5) as s:
            s.settimeout(2)
            return s.recv(4).startswith(b"SSH-")
        return False

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "sshd.log").read_text(errors="replace")[-2000:]
        return ""

    def _kill(self) -> None:
        if self.proc is None:
            return
        for pid in reversed(descendants(self.proc.pid)):  # the sessions (each sshd child calls setsid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        """sshd and every session stopped, then the accounts the sandbox made and its public directory
        removed (nothing else)."""
        self._kill()
        removed = self.accounts.remove_all()
        self.log(f"ssh: sshd stopped; accounts removed: {' '.join(removed) or 'none'}")
        shutil.rmtree(self.public, ignore_errors=True)


# What one seat may take of the classroom's machine. The limits are set on sshd and inherited by every
# session; RLIMIT_NPROC counts the processes of a seat's own uid (sshd itself, root, is exempt), so a
# trainee's fork bomb stops at its own ceiling while the other seats and the instructor carry on.
SEAT_LIMITS = {
    resource.RLIMIT_NPROC: 256,  # processes per seat account (a login node allows a few hundred)
    resource.RLIMIT_FSIZE: 1 << 30,  # one file at most 1 GiB: no disk filled by one `cat /dev/zero > x`
    resource.RLIMIT_CORE: 0,  # no core files of the seats' processes in their homes
}


def limit_seats(pid: int) -> None:
    """Put SEAT_LIMITS on the running sshd (before any trainee connects: it has just started)."""
    for which, value in SEAT_LIMITS.items():
        resource.prlimit(pid, which, (value, value))


def _version() -> tuple[int, int]:
    """OpenSSH's version, from `sshd -V` ("OpenSSH_9.2p1 Debian-2, OpenSSL ..."); (0, 0) if unknown."""
    import re

    r = subprocess.run([tool("sshd") or "/usr/sbin/sshd", "-V"], capture_output=True, text=True, timeout=30)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", r.stdout + r.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _session_path() -> str:
    """The sandbox's PATH for the sessions too, as the paramiko host gives it (absolute entries that need
    no quoting; sshd's default otherwise)."""
    keep = [p for p in os.environ.get("PATH", "").split(":")
            if p.startswith("/") and not set(p) & set(' \t"\'\\')]
    return ":".join(dict.fromkeys(keep)) or "/usr/local/bin:/usr/bin:/bin"


def clean_up(sandbox_dir: Path) -> list[str]:
    """What the real-sshd submit host of `sandbox_dir` leaves when its sandbox was killed (`sandbox down`
    after a timeout, a crash): its sshd (the one its pid file names, on its configuration), the accounts of
    its ledger, its public directory. Returns the accounts removed; nothing to do without a ledger."""
    from onboard.sandbox.submit_host.accounts import Accounts

    root = Path(sandbox_dir) / "submit"
    if os.geteuid() != 0 or not (root / "accounts.json").exists():
        return []
    try:
        pid = int((root / "sshd.pid").read_text().strip())
        exe = os.readlink(f"/proc/{pid}/exe")
        # sshd retitles itself ("sshd: /usr/sbin/sshd -D -e -f DIR/submit/sshd_config [listener] ...",
        # cut to the length of its first command line): the start of the configuration's path is there
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        exe, title = "", b""
    if exe.endswith("/sshd") and f" {root}/sshd".encode() in title:
        for child in reversed(descendants(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(public_dir(Path(sandbox_dir)), ignore_errors=True)
    return Accounts(root, Path(sandbox_dir)).remove_all()
