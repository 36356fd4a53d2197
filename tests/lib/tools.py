"""Real tools the tests need, and the CLI run the way a user runs it (a new process).

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

from tests.lib import tiers

ROOT = Path(__file__).resolve().parents[2]


def require_tool(name: str) -> str:
    """Path of an executable the test needs; a skip locally, a failure in CI."""
    path = shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name)
                                       if p.exists()), None)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI and is not installed (scripts/test installs it)")
    pytest.skip(f"{name} is not installed (scripts/test installs it)")


def run_onboard(*args: str, env: dict[str, str] | None = None, input: str | None = None,
                timeout: float = 120, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI the way a user does: a new process, `python -m onboard`."""
    if args[:2] == ("sandbox", "up") or args[:1] == ("demo",):
        tiers.guard(f"onboard {' '.join(args[:2])}")
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


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a Python child process that imports tests.lib (the repository root on its path)."""
    base = {**os.environ, **(env or {})}
    path = base.get("PYTHONPATH")
    base["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    return base
