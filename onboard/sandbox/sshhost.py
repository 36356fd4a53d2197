"""The sandbox's submit host: an SSH server (paramiko) on loopback, enough to practise delivery.

* its own Ed25519 host key (DIR/submit/ssh_host_ed25519_key), whose SHA256 fingerprint the sandbox prints;
* one home per user under DIR/submit/home/<user>; a user logs in with a public key listed in that
  home's .ssh/authorized_keys (public-key authentication only: no passwords);
* `exec` runs the command with /bin/sh -c in the home (HOME, USER, LOGNAME, SHELL, PATH set; stdin,
  stdout, stderr and the exit status passed through), so openssl, chmod, ls, mkdir, mv, cat, test, umask
  and sh work as on a cluster's login node, and the scp protocol (`scp -O`, which runs `scp -t`) too;
* `shell` runs /bin/sh without a terminal; the `sftp` subsystem serves files inside the home only.

It is not a jail: commands run as the user who runs the sandbox. Keep it on loopback (the default) or
on a classroom network.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.common import MSG_CHANNEL_REQUEST
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED

USER_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256:<base64 without padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def load_or_make_host_key(path: Path) -> paramiko.PKey:
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        key = ed25519.Ed25519PrivateKey.generate()
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        pub = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        path.with_name(path.name + ".pub").write_bytes(pub + b" onboard-sandbox\n")
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def _parse_authorized_keys(path: Path) -> list[tuple[str, bytes]]:
    try:
        return _parse_key_lines(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def _parse_key_lines(text: str) -> list[tuple[str, bytes]]:
    """(type, blob) of each key line; options before the key type are skipped, not honoured."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        for i, p in enumerate(parts[:-1]):
            if p.startswith(("ssh-", "ecdsa-", "sk-")):
                with contextlib.suppress(ValueError):
                    out.append((p, base64.b64decode(parts[i + 1])))
                break
    return out


def _handle_request_then_start(chan: paramiko.Channel, m: paramiko.Message) -> None:
    """paramiko answers an exec/shell request only after check_channel_*_request returns. A command started
    in there can finish first under load, and its exit status and channel close then overtake the answer:
    the client sees the close before the success and fails with "Channel closed.". So the command is
    started here, once paramiko has sent the answer (this runs in the transport's own thread)."""
    paramiko.Channel._handle_request(chan, m)
    server = chan.transport.server_object if chan.transport is not None else None
    start = server.pending.pop(chan.get_id(), None) if isinstance(server, _Server) else None
    if start is not None:
        start()


class _Transport(paramiko.Transport):
    _channel_handler_table = {
        **paramiko.Transport._channel_handler_table,
        MSG_CHANNEL_REQUEST: _handle_request_then_start,
    }


class SubmitHost:
    def __init__(self, root: Path, bind: str = "127.0.0.1", port: int = 0, log=None):
        self.root = Path(root)
        self.homes = self.root / "home"
        self.bind = bind
        self.log = log or (lambda msg: None)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.homes.mkdir(mode=0o755, exist_ok=True)
        self.host_key = load_or_make_host_key(self.root / "ssh_host_ed25519_key")
        self.fingerprint = fingerprint(self.host_key)
        self.sock = socket.create_server((bind, port), reuse_port=False)
        self.sock.settimeout(1.0)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._transports: set[paramiko.Transport] = set()
        self._procs: set[subprocess.Popen] = set()  # commands running for clients (killed on stop)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="sandbox-ssh", daemon=True)

    # -- users ---------------------------------------------------------------------------------------------
    def home(self, user: str) -> Path:
        if not user or set(user) - USER_NAME_OK or user.startswith("."):
            raise ValueError(f"{user!r} is not a user name")
        return self.homes / user

    def authorize(self, user: str, public_key_line: str) -> Path:
        """Add a public key (an authorized_keys line) for `user`, creating the home; returns the home."""
        home = self.home(user)
        ssh = home / ".ssh"
        home.mkdir(mode=0o755, exist_ok=True)
        ssh.mkdir(mode=0o700, exist_ok=True)
        ak = ssh / "authorized_keys"
        line = public_key_line.strip()
        if not _parse_key_lines(line):
            raise ValueError("not an OpenSSH public key line")
        existing = ak.read_text(encoding="utf-8") if ak.exists() else ""
        if line not in existing.splitlines():
            fd = os.open(ak, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        return home

    def host_key_line(self, host: str | None = None) -> str:
        """A known_hosts line for this server ([host]:port form when the port is not 22)."""
        h = host or ("127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind)
        name = h if self.port == 22 else f"[{h}]:{self.port}"
        return f"{name} {self.host_key.get_name()} {self.host_key.get_base64()}"

    # -- serving -------------------------------------------------------------------------------------------
    def start(self) -> SubmitHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() below at once (Linux)
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.sock.close()
        with self._lock:
            transports = list(self._transports)
        for t in transports:
            with contextlib.suppress(Exception):
                t.close()
        self.kill(list(self._procs))

    def kill(self, procs: list[subprocess.Popen], sig: int = signal.SIGKILL) -> None:
        """End client commands with everything they started (each runs in its own process group)."""
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, sig)
        if sig == signal.SIGKILL:
            for p in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(
                target=self._session, args=(conn, addr), daemon=True, name="sandbox-ssh-conn"
            ).start()

    def _session(self, conn: socket.socket, addr) -> None:
        conn.settimeout(None)
        t = _Transport(conn)
        t.add_server_key(self.host_key)
        t.set_subsystem_handler("sftp", _SFTPServer, sftp_si=_HomeSFTP)
        server = _Server(self)
        with self._lock:
            self._transports.add(t)
        try:
            t.start_server(server=server)
            while t.is_active() and not self._stop.is_set():
                ch = t.accept(timeout=0.5)
                if ch is not None:
                    self.log(f"ssh {addr[0]} channel for {server.user}")
        except (paramiko.SSHException, EOFError, OSError) as e:
            self.log(f"ssh {addr[0]}: {e}")
        finally:
            with self._lock:
                self._transports.discard(t)
            with contextlib.suppress(Exception):
                t.close()
            self.kill(server.procs, signal.SIGHUP)  # the client is gone: hang up its commands, as a tty would


class _Server(paramiko.ServerInterface):
    def __init__(self, host: SubmitHost):
        self.host = host
        self.user = ""
        self.env: dict[str, str] = {}
        self.procs: list[subprocess.Popen] = []
        self.pending: dict[int, Any] = {}  # channel id -> starts its command once the request is answered

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        try:
            home = self.host.home(username)
        except ValueError:
            return paramiko.AUTH_FAILED
        for ktype, blob in _parse_authorized_keys(home / ".ssh" / "authorized_keys"):
            if blob == key.asbytes():
                self.user = username
                self.host.log(f"ssh: {username} logged in with {ktype} {fingerprint(key)}")
                return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return (
            paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        )

    def check_channel_env_request(self, channel, name: bytes, value: bytes) -> bool:
        n = name.decode("utf-8", "replace")
        if n == "LANG" or n.startswith(("LC_", "X509_", "VOMS_")):  # like AcceptEnv LANG LC_*
            self.env[n] = value.decode("utf-8", "replace")
            return True
        return False

    def check_channel_pty_request(self, *args) -> bool:
        return True  # accepted, but commands run without a terminal

    def check_channel_exec_request(self, channel, command: bytes) -> bool:
        self._run(channel, command.decode("utf-8", "replace"))
        return True

    def check_channel_shell_request(self, channel) -> bool:
        self._run(channel, None)
        return True

    def _run(self, channel, command: str | None) -> None:
        home = self.host.home(self.user)
        env = {
            "HOME": str(home),
            "USER": self.user,
            "LOGNAME": self.user,
            "SHELL": "/bin/sh",
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            **self.env,
        }
        argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh"]
        self.pending[channel.get_id()] = threading.Thread(
            target=_pump,
            args=(channel, argv, env, home, self.host, self.procs),
            daemon=True,
            name="sandbox-ssh-exec",
        ).start


def _pump(channel, argv: list[str], env: dict[str, str], home: Path, host: SubmitHost, mine: list) -> None:
    try:
        proc = subprocess.Popen(
            argv,
            cwd=home,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with host._lock:
            host._procs.add(proc)
            mine.append(proc)
    except OSError as e:
        with contextlib.suppress(Exception):
            channel.sendall_stderr(f"sh: {e}\n".encode())
            channel.send_exit_status(127)
            channel.close()
        return

    def feed() -> None:
        try:
            while True:
                data = channel.recv(32768)
                if not data:
                    break
                proc.stdin.write(data)
                proc.stdin.flush()
        except (OSError, ValueError, EOFError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def drain(src, send) -> None:
        with contextlib.suppress(OSError, EOFError):
            for chunk in iter(lambda: src.read1(32768), b""):
                send(chunk)

    threads = [
        threading.Thread(target=feed, daemon=True),
        threading.Thread(target=drain, args=(proc.stdout, channel.sendall), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, channel.sendall_stderr), daemon=True),
    ]
    for t in threads:
        t.start()
    code = proc.wait()
    with host._lock:
        host._procs.discard(proc)
    threads[1].join()
    threads[2].join()
    with contextlib.suppress(Exception):
        channel.send_exit_status(code)
        channel.shutdown_write()
        channel.close()
    host.log(f"ssh exec {argv[-1]!r}: exit {code}")


# -- SFTP inside the home -----------------------------------------------------------------------------------


class _SFTPServer(SFTPServer):
    def finish_subsystem(self) -> None:
        # OpenSSH's scp (SFTP mode) counts a session without an exit status as failed, as sftp-server exits 0
        with contextlib.suppress(Exception):
            self.sock.send_exit_status(0)
        super().finish_subsystem()


class _Handle(SFTPHandle):
    filename = ""

    def stat(self):
        try:
            return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        try:
            self.readfile.flush()
            _set_attr(self.filename, attr, fd=self.readfile.fileno())
            return SFTP_OK
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)


def _set_attr(path: str, attr, fd: int | None = None) -> None:
    """paramiko's set_file_attr, except the size: it reopens with "w+" (emptying the file) to truncate."""
    if attr._flags & attr.FLAG_SIZE:
        if fd is not None:
            os.ftruncate(fd, attr.st_size)
        else:
            os.truncate(path, attr.st_size)
        attr._flags &= ~attr.FLAG_SIZE
    SFTPServer.set_file_attr(path, attr)


class _HomeSFTP(SFTPServerInterface):
    """Real paths (absolute paths name the real file system, as with OpenSSH), limited to the user's home."""

    def __init__(self, server: _Server, *args, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.home = server.host.home(server.user).resolve()

    def _path(self, path: str) -> str:
        p = Path(path) if os.path.isabs(path) else self.home / path
        real = Path(os.path.normpath(p))
        # the parent must resolve inside the home (the last component may be a link, a missing file...)
        parent = real.parent.resolve()
        if real != self.home and not (parent == self.home or self.home in parent.parents):
            raise PermissionError(path)
        return str(real)

    @staticmethod
    def _err(e: Exception) -> int:
        if isinstance(e, PermissionError):
            return SFTP_PERMISSION_DENIED
        if isinstance(e, FileNotFoundError):
            return SFTP_NO_SUCH_FILE
        return SFTPServer.convert_errno(e.errno) if isinstance(e, OSError) and e.errno else SFTP_FAILURE

    def canonicalize(self, path: str) -> str:
        try:
            return self._path(path)
        except PermissionError:
            return str(self.home)

    def list_folder(self, path: str):
        try:
            p = self._path(path)
            out = []
            for name in os.listdir(p):
                attr = SFTPAttributes.from_stat(os.lstat(os.path.join(p, name)))
                attr.filename = name
                out.append(attr)
            return out
        except OSError as e:
            return self._err(e)

    def stat(self, path: str):
        try:
            return SFTPAttributes.from_stat(os.stat(self._path(path)))
        except OSError as e:
            return self._err(e)

    def lstat(self, path: str):
        try:
            return SFTPAttributes.from_stat(os.lstat(self._path(path)))
        except OSError as e:
            return self._err(e)

    def open(self, path: str, flags: int, attr):
        try:
            p = self._path(path)
            mode = attr.st_mode & 0o7777 if attr is not None and attr.st_mode is not None else 0o666
            fd = os.open(p, flags | getattr(os, "O_BINARY", 0), mode)  # the mode from the first byte
        except OSError as e:
            return self._err(e)
        if flags & os.O_CREAT and attr is not None:
            attr._flags &= ~attr.FLAG_PERMISSIONS  # applied at creation already
            with contextlib.suppress(OSError):
                _set_attr(p, attr)
        if flags & os.O_WRONLY:
            fstr = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            fstr = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            fstr = "rb"
        try:
            f = os.fdopen(fd, fstr)
        except OSError as e:
            os.close(fd)
            return self._err(e)
        h = _Handle(flags)
        h.filename = p
        h.readfile = f
        h.writefile = f
        return h

    def remove(self, path: str) -> int:
        try:
            os.remove(self._path(path))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def rename(self, oldpath: str, newpath: str) -> int:
        try:
            new = self._path(newpath)
            if os.path.lexists(new):  # SFTP v3 rename refuses to replace, like OpenSSH's sftp-server
                return SFTP_FAILURE
            os.rename(self._path(oldpath), new)
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        try:
            os.replace(self._path(oldpath), self._path(newpath))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def mkdir(self, path: str, attr) -> int:
        try:
            mode = attr.st_mode & 0o7777 if attr is not None and attr.st_mode is not None else 0o777
            os.mkdir(self._path(path), mode)
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def rmdir(self, path: str) -> int:
        try:
            os.rmdir(self._path(path))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def chattr(self, path: str, attr) -> int:
        try:
            _set_attr(self._path(path), attr)
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def symlink(self, target_path: str, path: str) -> int:
        try:
            os.symlink(target_path, self._path(path))
            return SFTP_OK
        except OSError as e:
            return self._err(e)

    def readlink(self, path: str):
        try:
            return os.readlink(self._path(path))
        except OSError as e:
            return self._err(e)


def copy_tree_public(src: Path, dst: Path) -> None:
    """Copy a trust directory into a home (e.g. ~/.globus/certificates on the submit host), links kept."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    for p in dst.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
