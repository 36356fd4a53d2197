"""Bootstrap for crash tests: run `onboard` with kill points, without a single test hook in product code.

    KILLPOINT_LOG=/tmp/points.log KILLPOINT_BASE=0 KILLPOINT_AT=17 KILLPOINT_SIGNAL=KILL \
        python -c "import killboot; killboot.main()" --config cfg.toml resume --vo crash

Before onboard runs, the functions that change the world are wrapped (monkeypatched in this process only):
file writes (store.write_atomic, the credential installer's transaction, the obtain watcher's copy, the
sandbox CA's p12, known_hosts), HTTP requests (requests.Session.send), SSH (connect, exec, the SFTP
requests that change files). Each wrapped call is a point *before* and a point *after* it; inside the
installer, every create/rename/link/unlink of os is a point too. Points are numbered across the processes
of one journey (KILLPOINT_BASE: how many earlier processes passed) and logged one line each. At point
number KILLPOINT_AT the process sends itself SIGKILL (a crash) or SIGINT (Ctrl-C).

Waits are fast-forwarded (as `onboard demo` does with its clock): every resume checks every wait now,
instead of exiting with "next check after ..." until the backoff has passed.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from typing import Any

_cfg: dict[str, Any] = {}


def configure() -> None:
    """Read this process's kill point settings from the environment (again after a fork)."""
    _cfg.update(count=int(os.environ.get("KILLPOINT_BASE", "0") or 0),
                at=int(os.environ.get("KILLPOINT_AT", "0") or 0),
                log=os.environ.get("KILLPOINT_LOG", ""),
                sig=signal.SIGINT if os.environ.get("KILLPOINT_SIGNAL", "") == "INT" else signal.SIGKILL)


def _write_log(line: str) -> None:
    if not _cfg.get("log"):
        return
    fd = os.open(_cfg["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def point(label: str) -> None:
    """One kill point: counted, logged, and the process dies here when it is the chosen one."""
    if not _cfg:
        configure()
    _cfg["count"] += 1
    n = _cfg["count"]
    _write_log(f"{n}\t{label}\t{time.time():.3f}")
    if n == _cfg["at"]:
        _write_log(f"FIRED\t{n}\t{label}")
        os.kill(os.getpid(), _cfg["sig"])
        if _cfg["sig"] == signal.SIGINT:
            # the handler runs at the next bytecode: give it one, inside this frame, like a real Ctrl-C
            for _ in range(1000):
                pass


def _around(owner: Any, name: str, label: Any) -> None:
    """Wrap owner.name: a point before the call and one after it returned (label: str or callable)."""
    orig = getattr(owner, name)

    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        text = label(*args, **kwargs) if callable(label) else label
        if text is None:  # not a call that changes anything
            return orig(*args, **kwargs)
        point(f"{text}:before")
        result = orig(*args, **kwargs)
        point(f"{text}:after")
        return result

    setattr(owner, name, wrapper)


class _OsWithPoints:
    """`os` as one module sees it, with points around the calls that create, move or remove files."""

    WATCHED = ("open", "rename", "replace", "link", "symlink", "unlink")

    def __init__(self, prefix: str, only: Any = None):
        self._prefix = prefix
        self._only = only  # a file name filter: other files are not points

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in self.WATCHED:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "open" and not (len(args) > 1 and args[1] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                return real(*args, **kwargs)  # reading changes nothing
            target = os.path.basename(str(args[-1] if name in ("rename", "replace", "link", "symlink")
                                          else args[0]))
            if self._only is not None and not self._only(target):
                return real(*args, **kwargs)
            where = f" in {_cfg['context']}" if _cfg.get("context") else ""
            point(f"{self._prefix}:os.{name}({_norm(target)}){where}")
            result = real(*args, **kwargs)
            point(f"{self._prefix}:os.{name}({_norm(target)}){where}:done")
            return result

        return call


def _norm(name: str) -> str:
    """A file name without what differs between runs (PIDs, time stamps), for readable labels."""
    import re

    name = re.sub(r"\d{8}T\d{6}Z", "STAMP", name)
    name = re.sub(r"\d{8}-\d{6}", "STAMP", name)
    name = re.sub(r"issued_\d+_\w{3}_\d{4}", "issued_DATE", name)
    name = re.sub(r"Trainee\d+", "TRAINEE", name)  # the harness's trainees are numbered
    return re.sub(r"\.onboard-\d+-", ".onboard-PID-", re.sub(r"\.\d+\.tmp$", ".PID.tmp", name))


def _record_label(path: Any, data: bytes = b"") -> str:
    name = os.path.basename(str(path))
    if name.endswith(".json") and data[:1] == b"{":
        import json

        try:
            state = json.loads(data).get("state")
        except ValueError:
            state = "?"
        state = ",".join(state) if isinstance(state, list) else state
        return f"record state={state}"
    return _norm(name)


def install() -> None:
    import pathlib

    import paramiko
    import requests
    from paramiko import sftp as psftp

    import onboard.adapters.known_hosts as known_hosts
    import onboard.adapters.ssh as ssh
    import onboard.atomicfile as atomicfile
    import onboard.credentials.files as files
    import onboard.engine as engine
    import onboard.obtain.other as obtain_other
    import onboard.obtain.sandbox as obtain_sandbox
    import onboard.obtain.watcher as watcher
    import onboard.sandbox.ca as sandbox_ca
    import onboard.store as store

    # fast-forward: a wait is looked at on every run (the demo's clock does the same by jumping ahead)
    engine.Engine._due = lambda self, leaf: True

    # files: inside write_atomic, its temporary file created (empty) and renamed (whole) -- each side of
    # both is a point, named after the state being written -- and each history line appended
    real_write_atomic = store.write_atomic
    not_lock_or_history = lambda name: not name.endswith((".lock", ".jsonl"))  # noqa: E731
    writer_os = _OsWithPoints("write_atomic", not_lock_or_history)

    def write_atomic(path: Any, data: bytes, mode: int = 0o600) -> None:
        _cfg["context"] = _record_label(path, data)
        atomicfile.os = writer_os  # the writer lives in onboard.atomicfile: points only for the store's calls
        try:
            real_write_atomic(path, data, mode)
        finally:
            atomicfile.os = os
            _cfg["context"] = ""

    store.write_atomic = write_atomic
    store.os = writer_os  # type: ignore[assignment]
    _around(store.Store, "append_history", lambda self, vo, **ev: f"history({ev.get('trigger')})")
    files.os = _OsWithPoints("install")  # type: ignore[assignment]
    _around(files.Transaction, "commit", "install:commit")
    watcher.os = _OsWithPoints("take")  # type: ignore[assignment]
    _around(watcher, "take_private", "obtain:take_private")
    _around(sandbox_ca.SandboxCA, "issue_user", "obtain:sandbox-ca issue")
    obtain_os = _OsWithPoints("obtain")
    real_write_new = atomicfile.write_new

    def write_new(path: Any, data: bytes, mode: int = 0o600) -> None:  # the key, CSR and .p12 files
        atomicfile.os = obtain_os
        try:
            real_write_new(path, data, mode)
        finally:
            atomicfile.os = os

    obtain_other.write_new = write_new  # type: ignore[assignment]
    obtain_sandbox.write_new = write_new  # type: ignore[assignment]
    obtain_sandbox.os = obtain_os  # type: ignore[assignment]
    _around(known_hosts, "save_known_host", "ssh:save_known_host")
    _around(pathlib.Path, "unlink", lambda self, missing_ok=False: f"unlink({_norm(self.name)})")

    # HTTP
    def http_label(self: Any, request: Any, **kw: Any) -> str:
        from urllib.parse import urlsplit

        path = urlsplit(request.url).path
        return f"http:{request.method} {path}"

    _around(requests.Session, "send", http_label)

    # SSH
    _around(ssh, "connect", "ssh:connect")

    def exec_label(self: Any, command: str) -> str:
        from onboard.delivery import scripts

        if command == scripts.command(scripts.CONVERT):
            return "ssh:exec(convert)"
        if command == scripts.command(scripts.PROBE_VOMS):
            return "ssh:exec(probe-voms)"
        return "ssh:exec(voms-proxy-init)" if "voms-proxy-init" in command else "ssh:exec(other)"

    _around(paramiko.Channel, "exec_command", exec_label)
    names = {v: k for k, v in vars(psftp).items() if k.startswith("CMD_") and isinstance(v, int)}
    changing = {psftp.CMD_WRITE, psftp.CMD_SETSTAT, psftp.CMD_FSETSTAT, psftp.CMD_MKDIR, psftp.CMD_REMOVE,
                psftp.CMD_RENAME, psftp.CMD_RMDIR, psftp.CMD_SYMLINK, psftp.CMD_EXTENDED}

    def sftp_label(self: Any, t: int, *args: Any) -> str | None:
        if t == psftp.CMD_OPEN:
            flags = args[1] if len(args) > 1 else 0
            if not flags & (psftp.SFTP_FLAG_WRITE | psftp.SFTP_FLAG_CREATE):
                return None
            return f"sftp:open-for-write({os.path.basename(str(args[0]))})"
        if t not in changing:
            return None
        what = names.get(t, str(t))[4:].lower()
        arg = args[0] if args and isinstance(args[0], (str, bytes)) and t != psftp.CMD_WRITE else ""
        if t == psftp.CMD_EXTENDED and len(args) > 1:
            what, arg = str(args[0]), args[1]
        arg = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
        return f"sftp:{what}({os.path.basename(arg)})" if arg else f"sftp:{what}"

    _around(paramiko.SFTPClient, "_request", sftp_label)

    # tokens (`onboard tokens`, the IAM journey's token step): oidc-agent started, oidc-gen started, a
    # token asked of the agent, the token checked against the issuer
    import onboard.tokens.agent as tokens_agent
    import onboard.tokens.flow as tokens_flow

    for name in ("agent", "start_login", "token"):
        _around(tokens_agent, name, f"tokens:{name}")
    _around(tokens_flow, "verify", "tokens:verify")


def main() -> None:
    configure()
    install()
    from onboard.cli import main as onboard_main

    sys.exit(onboard_main(sys.argv[1:]))


# -- the zygote: imports once, forks one process per onboard command -----------------------------------

# what a journey imports on its way (importing it here, once, saves each process about a second of CPU)
PRELOAD = (
    "onboard.cli", "onboard.commands.journey", "onboard.app", "onboard.engine", "onboard.state",
    "onboard.config", "onboard.workflow", "onboard.steps", "onboard.steps.obtain", "onboard.steps.convert",
    "onboard.steps.register", "onboard.steps.confirm_email", "onboard.steps.await_approval",
    "onboard.steps.deliver", "onboard.steps.verify", "onboard.commands.credentials",
    "onboard.credentials.installer", "onboard.credentials.model", "onboard.credentials.readers",
    "onboard.credentials.checks", "onboard.registration.flow",
    "onboard.registration.voms_admin", "onboard.registration.voms_admin_registrar",
    "onboard.registration.registrar", "onboard.registration.approval", "onboard.registration.mails",
    "onboard.registration.links", "onboard.adapters.https", "onboard.adapters.mail", "onboard.delivery",
    "onboard.delivery.install", "onboard.delivery.verify", "onboard.delivery.local", "onboard.obtain",
    "onboard.obtain.sandbox", "onboard.obtain.other", "onboard.secrets", "onboard.ui", "onboard.guide",
    "onboard.catalog", "onboard.pki.trustdirs", "transitions", "platformdirs",
)


def _child(req: dict[str, Any]) -> None:
    """In the forked process: become the requested onboard command, then exit with its status."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own process group, like a command started from a shell
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        configure()
        from onboard.cli import main as onboard_main

        sys.argv = ["onboard", *req["argv"]]
        code = onboard_main(req["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def zygote(path: str) -> None:
    """Serve on the Unix socket `path`: each connection sends one JSON request (argv, env, cwd, stdout,
    stderr) and gets back {"pid": n} at once, then {"status": code} (negative: killed by that signal).
    Single-threaded, so that forking is safe."""
    import importlib
    import json
    import select
    import socket

    install()
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the test run is for the harness
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print("ready", flush=True)
    waiting: dict[int, socket.socket] = {}
    while True:
        ready, _, _ = select.select([server, sys.stdin], [], [], 0.02)
        if sys.stdin in ready and not sys.stdin.readline():
            break  # the harness went away (or closed our stdin): so do we
        if server in ready:
            conn, _ = server.accept()
            with conn.makefile("r") as f:
                req = json.loads(f.readline())
            pid = os.fork()
            if pid == 0:
                server.close()
                for c in waiting.values():
                    c.close()
                conn.close()
                _child(req)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            waiting[pid] = conn
        while waiting:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            conn = waiting.pop(pid, None)
            if conn is not None:
                try:
                    conn.sendall(json.dumps({"status": code}).encode() + b"\n")
                finally:
                    conn.close()
    for pid in waiting:  # the harness is gone: nothing of ours keeps running
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    server.close()


if __name__ == "__main__":
    main()
