"""oidc-agent's tools as onboard drives them (Debian's oidc-agent-cli 4.x).

The agent: the user's (OIDC_SOCK) when it answers, else one onboard starts and remembers in its run
directory (`oidc-agent` prints `OIDC_SOCK=...; export OIDC_SOCK; OIDCD_PID=...`). The account: made by
`oidc-gen --flow=device` with dynamic client registration, running in its own session in the background
so that a login the person has not finished yet is a wait (exit 75): the next run finds it still
polling, or finished. Its encryption password reaches it as `--pw-file=/dev/fd/N`, a pipe.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from onboard.errors import Exit, OnboardError
from onboard.secret_pipes import fd_numbers, secret_fds

TOOLS = ("oidc-agent", "oidc-gen", "oidc-token", "oidc-add")
SCOPES = "openid profile offline_access wlcg.groups"
_URL = re.compile(r"(https://\S+)")
_CODE = re.compile(r"enter the code:?\s*(\S+)", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class AgentError(OnboardError):
    exit_code = Exit.OIDC_AGENT
    default_hint = "Install oidc-agent (Debian/Ubuntu: apt install oidc-agent-cli), then run onboard again."


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise AgentError(f"oidc-agent's tools are missing: {', '.join(missing)}.")


@dataclass
class Agent:
    env: dict[str, str]  # what oidc-gen and oidc-token need: PATH, HOME, OIDC_SOCK (no secret)
    own: bool  # started by onboard


def _child_env(sock: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "XDG_CONFIG_HOME", "OIDC_CONFIG_DIR", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["OIDC_SOCK"] = sock
    return env


def _answers(env: dict[str, str]) -> bool:
    sock = env.get("OIDC_SOCK", "")
    if not sock or not os.path.exists(sock):
        return False
    proc = subprocess.run(
        ["oidc-add", "--loaded"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return proc.returncode == 0  # --loaded asks the agent itself (-l only lists files)


def agent(run_dir: Path) -> Agent:
    """The user's agent if it answers, else onboard's: its socket at a fixed path in onboard's run
    directory, so that a run killed right after starting it finds it again instead of starting another."""
    require_tools()
    users = os.environ.get("OIDC_SOCK", "")
    if users and _answers(_child_env(users)):
        return Agent(_child_env(users), own=False)
    sock = run_dir / "oidc-agent.sock"
    env = _child_env(str(sock))
    if _answers(env):
        return Agent(env, own=True)
    sock.unlink(missing_ok=True)  # an agent that died (a reboot): its socket is left behind
    proc = subprocess.run(
        ["oidc-agent", f"--socket-path={sock}"],
        env=_child_env(""),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # the agent forks into the background: its socket answers a moment later (longer on a busy machine)
    deadline = time.monotonic() + 10
    while proc.returncode == 0 and not _answers(env) and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.returncode != 0 or not _answers(env):
        raise AgentError(
            f"oidc-agent did not start: {(proc.stderr or proc.stdout).strip()[:200]}.",
            "Start it yourself (eval `oidc-agent`) and run onboard again.",
        )
    return Agent(env, own=True)


def accounts(a: Agent) -> list[str]:
    proc = subprocess.run(
        ["oidc-gen", "-l"], env=a.env, capture_output=True, text=True, timeout=30, check=False
    )
    lines = [ln.strip() for ln in proc.stdout.splitlines()]
    return [ln for ln in lines if ln and not ln.endswith(":") and " " not in ln]


@dataclass
class Login:
    pid: int
    url: str
    code: str


def _pid_file(run_dir: Path, account: str) -> Path:
    return run_dir / f"oidc-gen.{account}.pid"


def _log_file(run_dir: Path, account: str) -> Path:
    return run_dir / f"oidc-gen.{account}.log"


def running_login(run_dir: Path, account: str) -> Login | None:
    """The background oidc-gen of an earlier run, if it still waits for the person's approval."""
    pid_file = _pid_file(run_dir, account)
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.parent.exists() and b"oidc-gen" not in (
        cmdline.read_bytes() if cmdline.exists() else b""
    ):
        return None  # the number went to another process since
    url, code = progress(_log_file(run_dir, account))
    return Login(pid, url, code)


def progress(log: Path) -> tuple[str, str]:
    """The verification URL and user code oidc-gen printed ("" while it has not printed them)."""
    try:
        text = _ANSI.sub("", log.read_text(errors="replace"))
    except OSError:
        return "", ""
    url, code = _URL.search(text), _CODE.search(text)
    return (url.group(1) if url else "", code.group(1) if code else "")


def start_login(
    a: Agent, run_dir: Path, account: str, issuer: str, password: str, ca_bundle: Path | None
) -> Login:
    """oidc-gen with the device flow, in the background, its output in the run directory."""
    log = _log_file(run_dir, account)
    log.unlink(missing_ok=True)
    argv = [
        "oidc-gen",
        f"--iss={issuer}",
        "--flow=device",
        f"--scope={SCOPES}",
        "--confirm-default",
        "--no-url-call",
        "--prompt=none",
    ]
    if ca_bundle is not None:
        argv.append(f"--cp={ca_bundle}")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    pid_file = _pid_file(run_dir, account)
    pid_file.unlink(missing_ok=True)
    pid_fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def remember_pid() -> None:  # in the child, before exec: a crash of ours after the fork still finds it
        os.write(pid_fd, str(os.getpid()).encode())

    try:
        with secret_fds(password, error=AgentError) as names:
            proc = subprocess.Popen(
                [*argv, f"--pw-file={names[0]}", account],
                env=a.env,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                pass_fds=fd_numbers(names),
                start_new_session=True,
                preexec_fn=remember_pid,
            )
    finally:
        os.close(fd)
        os.close(pid_fd)
    return Login(proc.pid, "", "")


def finished(login: Login) -> int | None:
    """oidc-gen's exit status once it ended (reaped when it is our child), None while it runs."""
    try:
        pid, status = os.waitpid(login.pid, os.WNOHANG)
    except ChildProcessError:  # not our child (an earlier run's): alive or gone
        try:
            os.kill(login.pid, 0)
        except OSError:
            return 0
        return None
    if pid == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def stop_login(login: Login) -> None:
    with contextlib.suppress(OSError):
        os.killpg(login.pid, signal.SIGTERM)


def log_tail(run_dir: Path, account: str) -> str:
    with contextlib.suppress(OSError):
        lines = [
            ln
            for ln in _ANSI.sub("", _log_file(run_dir, account).read_text(errors="replace")).splitlines()
            if ln.strip() and "\u2580" not in ln
        ]
        return lines[-1][:200] if lines else ""
    return ""


def token(a: Agent, account: str) -> str:
    proc = subprocess.run(
        ["oidc-token", account], env=a.env, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise AgentError(
            f"oidc-token {account} failed: {proc.stderr.strip()[:200] or 'no token'}.",
            f"Load the account (`oidc-add {account}`) or make it again (`oidc-gen -d {account}`).",
        )
    return proc.stdout.strip()
