"""`onboard demo`: the whole journey against a throwaway sandbox, ending with a real voms-server's FQAN."""

from __future__ import annotations

import argparse
import os
import pwd

import pytest

from onboard.errors import Exit, OnboardError
from tests.lib.tools import require_tool

pytestmark = [pytest.mark.slow, pytest.mark.servers]  # onboard demo: sandbox, MariaDB + voms


def test_demo_runs_the_whole_journey_and_verifies(cli, tmp_path):
    for tool in ("mariadbd", "voms", "voms-proxy-init", "openssl"):
        require_tool(tool)
    work = tmp_path / "demo"
    r = cli("demo", "--dir", str(work), "--keep", timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    for step in ("Get a personal IGTF certificate", "Turn the PKCS#12", "Send the registration request",
                 "Open the confirmation link", "Wait for a VO administrator", "Copy the credential",
                 "Run voms-proxy-init on the submit host"):
        assert f"==> {step}" in out, step
    assert "/demo/Role=NULL/Capability=NULL" in out and "Demo done in" in out
    assert "Traceback" not in r.stderr and "Socket exception" not in r.stderr
    passphrase = (work / "passphrase").read_text().strip()
    assert passphrase not in out + r.stderr
    if os.geteuid() == 0:
        # as root the submit host is OpenSSH's sshd with dana's own account, removed when the demo ends
        log = (work / "sandbox" / "submit" / "sshd.log").read_text()
        assert "Accepted publickey for obx-dana from 127.0.0.1" in log
        assert "obx-dana" in r.stdout
        with pytest.raises(KeyError):
            pwd.getpwnam("obx-dana")
        assert not os.path.exists("/home/obx-dana")
    else:
        # the credential really is on the sandbox's submit host, made there by its openssl
        globus = work / "sandbox" / "submit" / "home" / "dana" / ".globus"
        assert sorted(p.name for p in globus.iterdir()) == ["usercert.pem", "usercred.p12", "userkey.pem"]
        assert (globus / "userkey.pem").stat().st_mode & 0o777 == 0o400
    # nothing of the demo keeps running (mariadbd, voms, the sandbox): no process names its directory
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if str(work).encode() in f.read():
                    left.append(pid)
        except OSError:
            continue
    assert left == []


def test_demo_without_a_voms_server_says_what_is_missing(monkeypatch, tmp_path, capsys):
    from onboard.commands import demo

    monkeypatch.setattr("onboard.sandbox.voms_server.missing", lambda: ["no voms (test)"])
    args = argparse.Namespace(dir=str(tmp_path / "d"), keep=False, vo="demo", timeout=120, quiet=True)
    with pytest.raises(OnboardError) as e:
        demo.run(args)
    assert e.value.exit_code == Exit.VERIFY
    assert "no voms (test)" in e.value.message and "everything up to the last step worked" in e.value.message
    assert "voms-server" in e.value.hint
    assert not (tmp_path / "d").exists()  # thrown away


def test_demo_refuses_a_directory_that_holds_something(cli, tmp_path):
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "thesis.tex").write_text("years of work")
    r = cli("demo", "--dir", str(keep))
    assert r.returncode == Exit.USAGE
    assert "not empty" in r.stderr
    assert (keep / "thesis.tex").read_text() == "years of work"


def test_demo_runs_from_an_installed_wheel_outside_the_checkout(tmp_path):
    """The demo is product, not a checkout's script: built as a wheel, installed (not editable) into a
    fresh venv and run from elsewhere, it still starts its real VOMS server and ends verified."""
    import subprocess
    import sys

    from tests.lib.tools import ROOT

    for tool in ("mariadbd", "voms", "voms-proxy-init", "openssl"):
        require_tool(tool)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(dist), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("onboard-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([venv / "bin" / "pip", "install", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run([venv / "bin" / "onboard", "demo", "--dir", str(elsewhere / "demo")], cwd=elsewhere,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "/demo/Role=NULL/Capability=NULL" in r.stdout and "Demo done in" in r.stdout
    # it ran the installed copy: the hook and the server came from the venv, not from this checkout
    code = "import onboard.sandbox.voms_server as v; print(v.__file__)"
    probe = subprocess.run([venv / "bin" / "python", "-c", code], cwd=elsewhere, env=env, capture_output=True,
                           text=True, timeout=60)
    assert probe.stdout.startswith(str(venv)), probe.stdout + probe.stderr
    assert not (elsewhere / "demo").exists()  # thrown away


def _path_without_voms_clients(tmp_path) -> str:
    """/usr/bin and /bin as symlinks, minus voms-clients' programs and the voms daemon: a fresh machine."""
    d = tmp_path / "bin-without-voms"
    d.mkdir()
    for src in ("/usr/bin", "/bin", "/usr/sbin"):
        for entry in os.scandir(src):
            if entry.name.startswith("voms") or (d / entry.name).exists() or (d / entry.name).is_symlink():
                continue
            (d / entry.name).symlink_to(entry.path)
    return str(d)


def test_demo_without_voms_clients_says_so_first_and_runs_every_other_step(cli, tmp_path):
    require_tool("openssl")
    path = _path_without_voms_clients(tmp_path)
    work = tmp_path / "demo"
    r = cli("demo", "--dir", str(work), env={"PATH": path}, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # said at the start, before the first step: what it will not show, and the exact command that adds it
    first = r.stderr.splitlines()[0]
    assert "lacks" in first and "will not show the VO's attributes" in first
    command = first.split("To add it: ")[1]
    assert command.startswith("sudo apt-get install --no-install-recommends ")
    assert "voms-clients" in command.split(" (")[0]
    # ...and every step it can still ran: the credential was delivered and its files checked there
    for step in ("Get a personal IGTF certificate", "Send the registration request", "Copy the credential",
                 "Run voms-proxy-init on the submit host"):
        assert f"==> {step}" in r.stdout, step
    assert "voms-proxy-init is not installed on the submit host" in r.stderr
    assert "Demo done in" in r.stdout and "without the VO attributes" in r.stdout
    assert "Traceback" not in r.stderr
