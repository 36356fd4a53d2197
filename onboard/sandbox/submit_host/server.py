"""The submit host's SSH server (see the package's docstring)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import paramiko
from paramiko.common import MSG_CHANNEL_REQUEST

from onboard.sandbox.submit_host import confine
from onboard.sandbox.submit_host.homes import Homes
from onboard.sandbox.submit_host.keys import fingerprint, load_or_make_host_key, parse_key_lines
from onboard.sandbox.submit_host.sftp import HomeSFTP, HomeSFTPServer


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


class SubmitHost(Homes):
    def __init__(self, root: Path, bind: str = "127.0.0.1", port: int = 0, log=None,
                 read_only: tuple[Path, ...] = ()):
        confine.require_for(bind)
        super().__init__(root)
        self.bind = bind
        self.log = log or (lambda msg: None)
        self.confined = confine.bwrap() is not None
        self.read_only = list(read_only)  # what every trainee may read besides their home (the trust dir)
        if not self.confined:
            self.log("ssh: bubblewrap is missing: trainees' commands are NOT confined (loopback only)")
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
        t.set_subsystem_handler("sftp", HomeSFTPServer, sftp_si=HomeSFTP)
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
            self.host.home(username)
        except ValueError:
            return paramiko.AUTH_FAILED
        for ktype, blob in parse_key_lines(self.host.authorized_keys(username)):
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

    def check_channel_subsystem_request(self, channel, name: str) -> bool:
        if not self.host.confined:  # paramiko's in-process SFTP (sftp.py), loopback only
            return super().check_channel_subsystem_request(channel, name)
        server = confine.sftp_server()
        if name != "sftp" or server is None:
            return False
        self._run(channel, None, [server])  # OpenSSH's own sftp-server, inside the trainee's confinement
        return True

    def _run(self, channel, command: str | None, program: list[str] | None = None) -> None:
        home = self.host.home(self.user)
        env = {
            "HOME": str(home),
            "USER": self.user,
            "LOGNAME": self.user,
            "SHELL": "/bin/sh",
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            **self.env,
        }
        argv = program or (["/bin/sh", "-c", command] if command is not None else ["/bin/sh"])
        if self.host.confined:
            argv = confine.wrap(home, argv, self.host.read_only)
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
    host.log(f"ssh exec {argv[-1][:200]!r}: exit {code}")
