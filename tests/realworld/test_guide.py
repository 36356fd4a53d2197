"""The guided first time: `onboard start` without a config, on a terminal (a real pty), asks, writes the
config 0600, shows the plan, and starts nothing when told not to; without a terminal it asks nothing."""

from __future__ import annotations

import os
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onboard import configfile, guide

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

pty = pytest.importorskip("pty")


def drive(args: list[str], env: dict[str, str], answers: list[str], timeout: float = 30,
          cwd: Path | None = None) -> tuple[str, int]:
    """Run onboard on a pseudo-terminal, answering each prompt (a line ending in ':') in turn."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "onboard", *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, **env}, cwd=cwd)
    os.close(slave)
    out, pending, end = b"", list(answers), time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if out.rstrip().endswith(b":") and pending:
                    os.write(master, (pending.pop(0) + "\n").encode())
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return out.decode(errors="replace").replace("\r\n", "\n"), proc.wait()


def test_first_start_asks_writes_config_and_shows_plan(onboard_env, tmp_path):
    # no git identity around (a repository's or the system's), so the default e-mail comes from $EMAIL
    env = {**onboard_env, "EMAIL": "jane.doe@example.org", "GIT_CONFIG_NOSYSTEM": "1"}
    (Path(onboard_env["HOME"]) / ".ssh").mkdir()
    (Path(onboard_env["HOME"]) / ".ssh" / "config").write_text("Host *\n  User x\nHost lxplus\n  HostName "
                                                               "lxplus.cern.ch\n")
    answers = ["Jane", "Doe", "not-an-address", "", "", "harica", "", str(tmp_path / "dl"), "", "n"]
    out, rc = drive(["start", "--vo", "cms"], env, answers, cwd=tmp_path)
    assert rc == 0, out
    path = Path(onboard_env["XDG_CONFIG_HOME"]) / "onboard" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data["vo"] == "cms"
    assert data["user"] == {"given_name": "Jane", "family_name": "Doe", "email": "jane.doe@example.org",
                            "institution": "example.org"}
    assert data["ca"]["provider"] == "harica" and data["ca"]["download_dir"] == str(tmp_path / "dl")
    assert data["submit_host"]["host"] == "lxplus"  # the default from ~/.ssh/config
    assert "does not look like an e-mail address" in out
    # requirements up front, then the plan, and nothing started
    assert "CERN computing account" in out
    assert out.index("CERN computing account") < out.index("The plan")
    # cms: the guided CERN IAM journey (onboard never sends that registration itself)
    assert "Log in to the VO's IAM in a browser (CERN SSO)" in out and "virtual organisation" in out
    assert "Send the registration request" not in out
    assert "Not started" in out
    assert not list(Path(onboard_env["ONBOARD_STATE_DIR"]).glob("*.json")) if \
        Path(onboard_env["ONBOARD_STATE_DIR"]).exists() else True


def test_without_a_terminal_nothing_is_asked(cli, onboard_env, tmp_path):
    dl = tmp_path / "dl"
    dl.mkdir()
    r = cli("start", "--vo", "dteam",
            env={"ONBOARD_CA__DOWNLOAD_DIR": str(dl), "ONBOARD_CA__OPEN_BROWSER": "false"})
    assert r.returncode == 75, r.stderr  # went straight to the journey, waiting for the download
    assert "first time" not in r.stdout and "site or NGI manager" in r.stdout
    # the VO's CA is not trusted here: said up front, before any HTTPS call could fail on it
    assert "CERN Grid Certification Authority" in r.stderr and "onboard trust" in r.stderr
    assert not (Path(onboard_env["XDG_CONFIG_HOME"]) / "onboard" / "config.toml").exists()


def test_render_config_is_valid_toml():
    values = {"vo": "x", "user": {"given_name": 'Jo "Q" \\ Ünï', "email": "a@b"}, "ca": {"p12": "~/a b.p12"}}
    assert tomllib.loads(configfile.render_config(values))["user"]["given_name"] == 'Jo "Q" \\ Ünï'


def test_write_config_never_overwrites(tmp_path):
    from onboard.errors import ConfigError

    path = tmp_path / "cfg" / "config.toml"
    configfile.write_config(path, {"vo": "x"})
    with pytest.raises(ConfigError, match="does not overwrite"):
        configfile.write_config(path, {"vo": "y"})
    assert "x" in path.read_text()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_default_submit_host(tmp_path):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *.cern.ch !foo\nHost sub sub2\n")
    assert guide.default_submit_host(tmp_path) == "sub"
