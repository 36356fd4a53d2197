"""The sandbox in the background: `onboard sandbox up` starts it, `down` stops it, `status` looks.

    onboard sandbox serve --dir DIR [--ready-fd N]     (started by `up` as SERVE + those arguments)

runs the Sandbox of DIR (settings from DIR/sandbox.json) until SIGTERM/SIGINT, with its pid in
DIR/sandbox.pid and its log in DIR/sandbox.log. `up` waits until the servers listen (the child reports
on a pipe), so the endpoints it prints work at once; `down` sends SIGTERM, waits for the process to be
gone, and checks that no port of the sandbox is still listening.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from onboard.errors import SandboxError
from onboard.pids import alive

PID_FILE = "sandbox.pid"
LOG_FILE = "sandbox.log"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# the background process: onboard's hidden `sandbox serve` action, run by this interpreter (no `onboard` on
# PATH needed); its command line is also how a pid file's pid is recognised as this sandbox's
SERVE = [sys.executable, "-m", "onboard", "sandbox", "serve"]


def _is_ours(pid: int, directory: Path) -> bool:
    """The pid file may be stale and its pid reused: check the command line names this sandbox."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return alive(pid)  # no /proc (not Linux): trust the pid file
    return _names_serve(cmdline) and str(directory).encode() in cmdline


def _names_serve(cmdline: list[bytes]) -> bool:
    return any(cmdline[i:i + 2] == [b"sandbox", b"serve"] for i in range(len(cmdline)))


def running_pid(directory: Path) -> int | None:
    try:
        pid = int((directory / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and _is_ours(pid, directory) else None


def listening_ports(ports: list[int]) -> list[int]:
    """Which of `ports` some socket on this machine listens on (from /proc/net/tcp{,6})."""
    wanted = {p for p in ports if p}
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                port = int(parts[1].rsplit(":", 1)[1], 16)
                if port in wanted:
                    found.add(port)
    return sorted(found)


def up(directory: Path, *, timeout: float = START_TIMEOUT) -> int:
    """Start the sandbox of `directory` in the background; returns its pid once its servers listen."""
    directory = directory.expanduser().resolve()
    pid = running_pid(directory)
    if pid is not None:
        raise SandboxError(
            f"the sandbox in {directory} is already running (pid {pid}).",
            f"Stop it first: `onboard sandbox down --dir {directory}`.",
        )
    (directory / PID_FILE).unlink(missing_ok=True)
    r, w = os.pipe()
    log = open(directory / LOG_FILE, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [*SERVE, "--dir", str(directory), "--ready-fd", str(w)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(w,),
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(w)
        log.close()
    deadline = time.monotonic() + timeout
    buf = b""
    with os.fdopen(r, "rb", buffering=0) as pipe:
        os.set_blocking(pipe.fileno(), False)
        while time.monotonic() < deadline and b"\n" not in buf:
            try:
                chunk = pipe.read(4096)
            except BlockingIOError:
                chunk = None
            if chunk:
                buf += chunk
            elif chunk == b"" or proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
    line = buf.decode("utf-8", "replace").strip()
    if line == "ready":
        return proc.pid
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    message = line.removeprefix("error: ") if line else f"it exited (see {directory / LOG_FILE})"
    raise SandboxError(
        f"the sandbox did not start: {message}",
        f"Look at {directory / LOG_FILE}; another sandbox may use the ports (--port-base N).",
    )


def down(directory: Path, *, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the sandbox of `directory`; returns the pid it stopped, or None if none ran. The submit host's
    accounts (with root) are removed by the sandbox as it stops, or here if it was killed."""
    from onboard.sandbox.submit_host.sshd import clean_up

    directory = directory.expanduser().resolve()
    pid = running_pid(directory)
    if pid is None:
        (directory / PID_FILE).unlink(missing_ok=True)
        clean_up(directory)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.02)
    if alive(pid):  # it did not stop in time: no half-dead sandbox may keep the ports
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while alive(pid):
            _reap(pid)
            time.sleep(0.02)
    (directory / PID_FILE).unlink(missing_ok=True)
    clean_up(directory)
    return pid


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def serve(directory: Path, ready_fd: int | None = None) -> int:
    from onboard.sandbox.manager import Sandbox

    directory = directory.expanduser().resolve()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    os.umask(0o022)  # the submit host's files get the modes a login node gives them
    try:
        sandbox = Sandbox(directory, log_file=directory / LOG_FILE).start()
    except Exception as e:  # reported to `up` on the pipe, one line
        msg = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
        _report(ready_fd, f"error: {msg}")
        return 1
    pid_tmp = directory / f".{PID_FILE}.{os.getpid()}"
    pid_tmp.write_text(f"{os.getpid()}\n")
    os.replace(pid_tmp, directory / PID_FILE)
    _report(ready_fd, "ready")
    try:
        while not stop.wait(1.0):
            pass
    finally:
        sandbox.stop()
        with contextlib.suppress(OSError):
            if (directory / PID_FILE).read_text().strip() == str(os.getpid()):
                (directory / PID_FILE).unlink()
    return 0


def _report(fd: int | None, line: str) -> None:
    if fd is None:
        print(line, flush=True)
        return
    try:
        os.write(fd, (line + "\n").encode())
        os.close(fd)
    except OSError as e:
        if e.errno != errno.EBADF:
            raise
