"""Kill points of the token step: `onboard tokens` killed (SIGKILL) at each of its points, then run again
until it succeeds, with Debian's real oidc-agent and oidc-gen against the sandbox IAM. The person approves
every device login that appears (as they would approve the code shown again). The end state must be the
reference's: one oidc-agent account for the VO, one agent, no oidc-gen left running, only the expected
files in onboard's run directory, and the account's password nowhere on disk."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from onboard.sandbox.iam import oidc_model
from onboard.sandbox.manager import to_toml
from tests.lib.sandbox import VO, start_sandbox
from tests.lib.tools import require_tool
from tests.tokens.test_oidc_agent import PASSWORD, _account, _stop_agent

pytestmark = [pytest.mark.servers, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
EXPECTED = {"oidc-agent.sock", f"oidc-gen.{VO}.pid", f"oidc-gen.{VO}.log", "ca-bundle.pem"}


def _run(home: Path, config: Path, pw: Path, log: Path, at: int = 0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONBOARD_", "KILLPOINT_", "OIDC_"))}
    env.update(
        HOME=str(home),
        ONBOARD_STATE_DIR=str(home / "state"),
        ONBOARD_DATA_DIR=str(home / "data"),
        XDG_CONFIG_HOME=str(home / ".config"),
        ONBOARD_NO_BROWSER="1",
        KILLPOINT_LOG=str(log),
        KILLPOINT_AT=str(at),
        KILLPOINT_SIGNAL="KILL",
        PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent.parent)]),
    )
    argv = [
        sys.executable,
        "-c",
        "import killboot; killboot.main()",
        "--config",
        str(config),
        "tokens",
        "--vo",
        VO,
        "--password-file",
        str(pw),
        "--wait",
        "60",
    ]
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL
    )


def _processes(name: str, home: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0]
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv0.endswith(name.encode()) and f"HOME={home}".encode() in environ:
            found.append(int(proc.name))
    return found


def test_the_token_step_killed_at_each_point_ends_as_the_reference(tmp_path):
    for tool in ("oidc-agent", "oidc-gen", "oidc-token", "oidc-add"):
        require_tool(tool)
    sb = start_sandbox(tmp_path / "sb", ssh=False)
    stop = threading.Event()

    def person():  # approves each code that appears, for alice, at the testvo IAM
        while not stop.is_set():
            with sb.ctx.db() as db:
                codes = [r[0] for r in db.execute("SELECT user_code FROM oidc_device WHERE status='pending'")]
            for code in codes:
                oidc_model.decide(sb.ctx, code, "alice", True, vo=VO)
            time.sleep(0.3)

    helper = threading.Thread(target=person, daemon=True)
    homes = []
    try:
        _account(sb, "alice")
        cfg = sb.onboard_config(vo=VO, tokens=True)
        cfg.pop("submit_host")
        config = tmp_path / "config.toml"
        config.write_text(to_toml(cfg))
        pw = tmp_path / "pw"
        pw.write_text(PASSWORD + "\n")
        helper.start()

        def journey(tag: str, at: int) -> tuple[Path, list[str]]:
            home = tmp_path / tag
            home.mkdir(mode=0o700)
            homes.append(home)
            log = tmp_path / f"{tag}.points"
            outcomes = []
            for attempt in range(4):
                r = _run(home, config, pw, log, at if attempt == 0 else 0)
                outcomes.append(r.returncode)
                if r.returncode == 0:
                    assert "token accepted" in r.stdout
                    break
            else:
                raise AssertionError(f"{tag}: never done: {outcomes} {r.stdout} {r.stderr}")
            return home, log.read_text().splitlines() if log.exists() else []

        ref_home, points = journey("reference", 0)
        assert any("tokens:start_login" in p for p in points) and any("tokens:verify" in p for p in points)
        for k in range(1, len(points) + 1):
            home, _ = journey(f"kill-{k}", k)
            run_dir = home / "state" / "tokens"
            left = {p.name for p in run_dir.iterdir()}
            assert left <= EXPECTED, (k, points[k - 1], left - EXPECTED)
            assert not _processes("oidc-gen", home), (k, points[k - 1])
            assert len(_processes("oidc-agent", home)) <= 2, (k, points[k - 1])  # the agent and its helper
            accounts = subprocess.run(
                ["oidc-gen", "-l"],
                env={"HOME": str(home), "PATH": os.environ["PATH"]},
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
            assert re.findall(rf"^{VO}$", accounts, re.M) == [VO], (k, accounts)
            for f in home.rglob("*"):
                if f.is_file() and not f.is_socket():
                    assert PASSWORD.encode() not in f.read_bytes(), (k, f)
    finally:
        stop.set()
        for home in homes:
            _stop_agent(home / "state" / "tokens" / "oidc-agent.sock")
        sb.stop()
