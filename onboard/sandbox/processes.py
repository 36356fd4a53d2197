"""Helpers for the server processes the sandbox (and the test suite's real servers, tests/servers) starts:
finding a tool, a free loopback port, starting a server and waiting until it answers, a process's
descendants, whether a pid still runs, stopping one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def tool(name: str) -> str | None:
    """A tool's path: on PATH, or in /usr/sbin (mariadbd) even when PATH lacks it."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: list[str], log: Path) -> subprocess.Popen:
    """A server in a session of its own (a signal to its group reaches its children), stdout and stderr
    appended to `log`, no stdin."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )


def wait_ready(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    timeout: float,
    name: str,
    log_tail: Callable[[], str],
    interval: float = 0.05,
) -> bool:
    """Poll `ready()` until it is true (True) or `timeout` seconds pass (False); RuntimeError naming the end
    of the server's log if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: " + log_tail()[-2000:])
        if ready():
            return True
        time.sleep(interval)
    return False


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port now."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def proc_stats():
    """(pid, the fields of /proc/PID/stat after the command name: state, ppid, pgrp, ...) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        yield int(entry), stat.rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """Pids of every process below `root`, parents before children (from /proc)."""
    children: dict[int, list[int]] = {}
    for pid, fields in proc_stats():
        children.setdefault(int(fields[1]), []).append(pid)
    out: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


def stop(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
