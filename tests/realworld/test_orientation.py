"""A scripted orientation session: a sandbox and 20 trainees' journeys at once, each in its own home
directory, each joining with the fingerprint read aloud; all must reach `done`. Runs bench/orientation
(the same script that prints the session's wall time and the sandbox's peak memory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lib.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_twenty_trainees_reach_done(tmp_path):
    require_tool("openssl")  # the submit host makes the PEM files with it
    require_tool("voms-proxy-init")  # and verifies with it
    require_tool("voms")  # the VO's real VOMS server (with MariaDB), fed by the sandbox's on-approval hook
    require_tool("mariadbd")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "orientation"), "--trainees", "20", "--json",
                           "--timeout", "240", "--keep", str(tmp_path / "session")],
                          capture_output=True, text=True, timeout=600)
    summary = json.loads(proc.stdout)
    failed = [(r["trainee"], r.get("state"), r.get("error", "")) for r in summary["results"]
              if r.get("state") != "done"]
    assert not failed, failed
    assert summary["done"] == 20 and proc.returncode == 0
    homes = {r["home"] for r in summary["results"]}
    assert len(homes) == 20  # each in its own home directory
    for r in summary["results"]:
        home = Path(r["home"])
        assert (home / ".globus" / "userkey.pem").exists()
        cfg = (home / ".config" / "onboard" / "config.toml").read_text()
        assert 'provider = "sandbox"' in cfg and "cert_dir" in cfg
    assert summary["sandbox_peak_rss_mib"] > 0 and summary["wall_seconds"] > 0  # what the bench prints
    assert all(any(f.startswith("/sandbox") for f in r["fqans"]) for r in summary["results"])
    # the sandbox is down: no daemon left behind
    pid_file = tmp_path / "session" / "sandbox" / "sandbox.pid"
    assert not pid_file.exists() or not Path(f"/proc/{pid_file.read_text().strip()}").exists()
