"""Shared test fixtures: an isolated onboard environment, the CLI as a subprocess, and real tools.

Real servers and consumers (sshd, Dovecot, MariaDB + voms, voms-proxy-init, grid-proxy-init, pk12util)
are installed by the test command (scripts/test). Missing one skips a test on a developer's machine and
fails it in CI (CI=true), as the design requires.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def require_tool(name: str) -> str:
    """Path of an executable the test needs; a skip locally, a failure in CI."""
    path = shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name)
                                       if p.exists()), None)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI and is not installed (scripts/test installs it)")
    pytest.skip(f"{name} is not installed (scripts/test installs it)")


@pytest.fixture
def onboard_env(tmp_path, monkeypatch):
    """Environment variables for an onboard that touches only tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "ONBOARD_STATE_DIR": str(tmp_path / "state"),
        "ONBOARD_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "NO_COLOR": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def run_onboard(*args: str, env: dict[str, str] | None = None, input: str | None = None,
                timeout: float = 120, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI the way a user does: a new process, `python -m onboard`."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("ONBOARD_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "onboard", *args],
        env=full_env,
        input=input,
        text=True,
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


@pytest.fixture
def cli(onboard_env):
    def _run(*args: str, **kw) -> subprocess.CompletedProcess:
        return run_onboard(*args, env={**onboard_env, **kw.pop("env", {})}, **kw)

    return _run
