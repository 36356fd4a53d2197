"""The wheel carries the workflows: build it, install it (not editable) into a fresh venv, load them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_workflows(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("onboard-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    res = subprocess.run(
        [venv / "bin" / "onboard", "workflows"], capture_output=True, text=True, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "voms-admin:" in res.stdout
    assert str(venv) in res.stdout and "site-packages/onboard/workflows/voms-admin.toml" in res.stdout
    # python -m onboard works from the installed package too
    res = subprocess.run(
        [venv / "bin" / "python", "-m", "onboard", "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert res.stdout.startswith("onboard ")
