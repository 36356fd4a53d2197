"""Install the credential in ~/.globus on the submit host, over one SSH connection.

    inspect   what is there already (SFTP reads; fingerprints tell ours from someone else's)
    prepare   ~/.globus 0700; every file in the way that is not ours moved to backup.<stamp>.<name>
    upload    the package to a temporary name created 0600 (O_EXCL), then renamed to usercred.p12
    convert   usercert.pem 0644 / userkey.pem 0400 made by the host's own openssl (passphrase on stdin);
              with no usable openssl there, made here in memory and uploaded instead (and said so)
    finish    modes checked once more; what is installed goes into the journey record

Each phase looks before it acts, so a run killed anywhere and started again ends with the same files,
one usercred.p12 and no backup of our own files.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import paramiko
from paramiko.sftp import CMD_HANDLE, CMD_OPEN, SFTP_FLAG_CREATE, SFTP_FLAG_EXCL, SFTP_FLAG_WRITE

from onboard.delivery import scripts
from onboard.delivery.local import Package, cert_sha256_of_pem, key_spki_sha256
from onboard.errors import Exit, SSHError

if TYPE_CHECKING:
    from onboard.adapters.ssh import Connection
    from onboard.ui import UI

GLOBUS = ".globus"  # relative to the home directory, where SFTP and exec both start
CERT, KEY, P12 = "usercert.pem", "userkey.pem", "usercred.p12"
NAMES = (CERT, KEY, P12)
MODES = {CERT: 0o644, KEY: 0o400, P12: 0o600}
TMP_PREFIX = ".onboard-"  # our temporary files in ~/.globus (the convert script uses the same prefix)
MAX_READ = 1 << 20  # a credential file is a few KB; anything bigger is certainly not ours


@dataclass
class FileState:
    name: str
    kind: str  # absent | ours | foreign
    mode: int = 0
    detail: str = ""  # why foreign: "symlink", "other certificate", ...


@dataclass
class Report:
    host: str
    made_by: str = ""  # "openssl on the host (OpenSSL 3.0.2, plain)", "onboard (...)", "already installed"
    uploaded: bool = False
    backups: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    remote: dict[str, str] = field(default_factory=dict)


def _path(name: str) -> str:
    return f"{GLOBUS}/{name}"


def replace(sftp: paramiko.SFTPClient, src: str, dst: str) -> None:
    """Rename `src` to `dst`, replacing it atomically (posix-rename@openssh.com). A server without that
    extension gets remove + rename; callers have already kept anything at `dst` that was not ours."""
    try:
        sftp.posix_rename(src, dst)
        return
    except OSError as e:
        if "unsupported" not in str(e).lower() and "not supported" not in str(e).lower():
            raise
    try:
        sftp.remove(dst)
    except FileNotFoundError:
        pass
    sftp.rename(src, dst)


class Delivery:
    def __init__(
        self,
        conn: Connection,
        package: Package,
        passphrase: str,
        ui: UI | None,
        now: datetime,
        on_progress: Callable[[str], None] | None = None,
    ):
        self.conn = conn
        self.pkg = package
        self.passphrase = passphrase
        self.ui = ui
        self.now = now
        self.report = Report(host=conn.target.display)
        self.on_progress = on_progress or (lambda what: None)

    @property
    def sftp(self) -> paramiko.SFTPClient:
        return self.conn.sftp

    # -- inspect -------------------------------------------------------------------------------------
    def _read(self, path: str, size: int) -> bytes | None:
        if size > MAX_READ:
            return None
        try:
            with self.sftp.open(path, "rb") as f:
                return f.read()
        except OSError:
            return None  # unreadable (e.g. mode 0000): not something we made

    def inspect(self) -> dict[str, FileState]:
        states: dict[str, FileState] = {}
        for name in NAMES:
            try:
                st = self.sftp.lstat(_path(name))
            except FileNotFoundError:
                states[name] = FileState(name, "absent")
                continue
            except OSError as e:
                raise self._sftp_error(f"cannot look at ~/{_path(name)}", e) from None
            mode = st.st_mode or 0
            if stat.S_ISLNK(mode):
                states[name] = FileState(name, "foreign", mode, "a symbolic link")
                continue
            if not stat.S_ISREG(mode):
                states[name] = FileState(name, "foreign", mode, "not a regular file")
                continue
            data = self._read(_path(name), st.st_size or 0)
            states[name] = FileState(
                name,
                "ours" if data is not None and self._is_ours(name, data) else "foreign",
                mode,
                "" if data is not None else "unreadable",
            )
        return states

    def _is_ours(self, name: str, data: bytes) -> bool:
        if name == P12:
            return hashlib.sha256(data).hexdigest() == self.pkg.sha256
        if name == CERT:
            return cert_sha256_of_pem(data) == self.pkg.cert_sha256
        # the key: ours when it opens with our passphrase and belongs to our certificate
        return key_spki_sha256(data, self.passphrase) == self.pkg.spki_sha256

    # -- prepare -------------------------------------------------------------------------------------
    def prepare(self, states: dict[str, FileState]) -> None:
        try:
            try:
                st = self.sftp.stat(GLOBUS)
                if not stat.S_ISDIR(st.st_mode or 0):
                    raise SSHError(
                        f"~/{GLOBUS} on {self.report.host} is not a directory.",
                        f"Move it aside on the host (mv ~/{GLOBUS} ~/{GLOBUS}.old), then run again.",
                        exit_code=Exit.REMOTE,
                    )
                if (st.st_mode or 0) & 0o077:
                    self.sftp.chmod(GLOBUS, 0o700)
                    self.report.steps.append(f"~/{GLOBUS} made private (0700)")
            except FileNotFoundError:
                self.sftp.mkdir(GLOBUS, 0o700)
                self.sftp.chmod(GLOBUS, 0o700)  # mkdir's mode passes through the server's umask
                self.report.steps.append(f"~/{GLOBUS} created (0700)")
                self.created_globus = True
            # leftovers of an interrupted run: our own temporary names only
            for entry in self.sftp.listdir(GLOBUS):
                if entry.startswith(TMP_PREFIX):
                    self.sftp.remove(_path(entry))
            stamp = self.now.strftime("%Y%m%d-%H%M%S")
            for name, fs in states.items():
                if fs.kind != "foreign":
                    continue
                backup = self._free_name(f"backup.{stamp}.{name}")
                replace(self.sftp, _path(name), _path(backup))
                self.report.backups.append(f"~/{_path(backup)}")
                self.report.steps.append(f"existing ~/{_path(name)} moved to ~/{_path(backup)}")
        except OSError as e:
            raise self._sftp_error(f"cannot prepare ~/{GLOBUS}", e) from None

    def _free_name(self, base: str) -> str:
        existing = set(self.sftp.listdir(GLOBUS))
        name, n = base, 1
        while name in existing:
            name, n = f"{base}.{n}", n + 1
        return name

    # -- upload --------------------------------------------------------------------------------------
    def _create_private(self, path: str, data: bytes) -> None:
        """Create `path` with O_CREAT|O_EXCL and mode 0600 from its first byte, and write `data`."""
        attrs = paramiko.SFTPAttributes()
        attrs.st_mode = 0o600
        sftp = self.sftp
        t, msg = sftp._request(
            CMD_OPEN,
            sftp._adjust_cwd(path),  # noqa: SLF001 - paramiko has no public way
            SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL,
            attrs,
        )
        if t != CMD_HANDLE:
            raise OSError(f"no handle for {path}")
        with paramiko.SFTPFile(sftp, msg.get_binary(), "wb") as f:
            f.write(data)
        st = sftp.stat(path)
        if (st.st_mode or 0) & 0o077 or st.st_size != len(data):
            raise OSError(f"{path} came out with mode {oct((st.st_mode or 0) & 0o777)} / {st.st_size} bytes")

    def upload(self, states: dict[str, FileState]) -> None:
        if states[P12].kind == "ours":
            return
        tmp = _path(TMP_PREFIX + "usercred.p12.tmp")
        try:
            self._create_private(tmp, self.pkg.data)
            replace(self.sftp, tmp, _path(P12))
        except OSError as e:
            self._undo_upload(tmp)  # a full disk: leave the host as it was, not a torn temporary file
            raise self._sftp_error(f"cannot upload the package to ~/{_path(P12)}", e) from None
        self.report.uploaded = True
        self.report.steps.append(f"package uploaded to ~/{_path(P12)} (0600)")
        states[P12] = FileState(P12, "ours", 0o100600)

    created_globus = False

    def _undo_upload(self, tmp: str) -> None:
        for undo in (lambda: self.sftp.remove(tmp), lambda: self.created_globus and self.sftp.rmdir(GLOBUS)):
            try:
                undo()
            except OSError:
                pass  # best effort: the next run removes our leftovers anyway

    # -- convert -------------------------------------------------------------------------------------
    def convert(self, states: dict[str, FileState]) -> None:
        if states[CERT].kind == "ours" and states[KEY].kind == "ours":
            return
        res = self.conn.run(scripts.command(scripts.CONVERT), stdin=(self.passphrase + "\n").encode())
        out = scripts.parse(res.out)
        result = out.get("result", "")
        version = " ".join(out.get("version", "").split()[:2])  # "OpenSSL 3.0.2", "LibreSSL 3.8.2"
        if result == "ok":
            self.report.made_by = (
                f"openssl on the host ({version}{', with -legacy' if out.get('mode') == 'legacy' else ''})"
            )
            self.report.steps.append(f"usercert.pem and userkey.pem made by {self.report.made_by}")
            return
        if not result and "version" not in out and "\n" not in res.out.strip():
            # the script never ran (no POSIX sh, a restricted shell, a host that runs only some commands)
            detail = (res.err.strip().splitlines() or [f"exit status {res.status}"])[-1]
            result = "no-shell"
            out["why"] = f"it did not run onboard's /bin/sh script: {detail[:120]}"
        if result in ("", "no-globus-dir", "mv-failed", "chmod-failed"):
            detail = (res.err.strip().splitlines() or [f"exit status {res.status}"])[-1]
            raise SSHError(
                f"making the PEM files on {self.report.host} failed ({result or detail}).",
                "Check the disk space and ~/.globus on the submit host, then run again.",
                exit_code=Exit.REMOTE,
            )
        why = {
            "no-openssl": "it has no openssl",
            "openssl-failed": f"its {version or 'openssl'} cannot read the package"
            + (" (no legacy provider)" if out.get("legacy") == "missing" else ""),
            "mismatch": f"its {version or 'openssl'} wrote a key that does not match the certificate",
            "no-shell": out.get("why", ""),
        }.get(result, result)
        self._say(
            f"The submit host has no usable openssl ({why}): onboard makes usercert.pem and userkey.pem "
            "here, in memory, and uploads them."
        )
        self._upload_pems()
        self.report.made_by = f"onboard, uploaded (host: {why})"
        self.report.steps.append(f"usercert.pem and userkey.pem made by onboard and uploaded ({why})")

    def _upload_pems(self) -> None:
        cert_pem, key_pem = self.pkg.pem_files(self.passphrase)
        try:
            for name, data in ((CERT, cert_pem), (KEY, key_pem)):
                tmp = _path(f"{TMP_PREFIX}{name}.tmp")
                self._create_private(tmp, data)
                self.sftp.chmod(tmp, MODES[name])
                replace(self.sftp, tmp, _path(name))
        except OSError as e:
            raise self._sftp_error("cannot upload the PEM files", e) from None

    # -- finish --------------------------------------------------------------------------------------
    def finish(self) -> dict[str, FileState]:
        states = self.inspect()
        bad = [f"~/{_path(n)} ({fs.detail or fs.kind})" for n, fs in states.items() if fs.kind != "ours"]
        if bad:
            raise SSHError(
                f"after delivery, {', '.join(bad)} on {self.report.host} is not what onboard installed.",
                "Something else changed ~/.globus meanwhile; run again.",
                exit_code=Exit.REMOTE,
            )
        for name, fs in states.items():
            if fs.mode & 0o777 != MODES[name] and not (name == KEY and fs.mode & 0o777 == 0o600):
                self.sftp.chmod(_path(name), MODES[name])
                fs.mode = (fs.mode & ~0o777) | MODES[name]
        self.report.remote = {
            "host": self.report.host,
            "dir": f"~/{GLOBUS}",
            "usercert.pem": self.pkg.cert_sha256,
            "usercred.p12": self.pkg.sha256,
            "userkey.pem": self.pkg.spki_sha256,
            "made_by": self.report.made_by or "already installed",
        }
        if self.report.backups:
            self.report.remote["backups"] = " ".join(self.report.backups)
        return states

    def run(self) -> Report:
        states = self.inspect()
        if all(fs.kind == "ours" for fs in states.values()):
            self.report.made_by = "already installed"
        self.on_progress("inspected")
        self.prepare(states)
        self.upload(states)
        self.on_progress("uploaded")
        self.convert(states)
        self.on_progress("converted")
        self.finish()
        return self.report

    # -- helpers -------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.ui is not None:
            self.ui.warn(text)

    def _sftp_error(self, what: str, e: OSError) -> SSHError:
        reason = e.strerror or str(e) or type(e).__name__
        if reason.strip().lower() == "failure":  # SSH_FX_FAILURE: OpenSSH's sftp-server on ENOSPC/EDQUOT
            reason = "the host refused to write it (SFTP 'Failure': a full disk or quota, most often)"
        return SSHError(
            f"{what} on {self.report.host}: {reason}.",
            "Check the permissions and free space of your home directory there, then run again.",
            exit_code=Exit.REMOTE,
        )
