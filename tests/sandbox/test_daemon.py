"""`onboard sandbox up|down|status|issue|requests|approve|reject` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import requests
import tomllib
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from onboard.sandbox.daemon import listening_ports
from tests.lib.sandbox import seed_ca

from .conftest import VO, token_of

PASS = "a long sandbox passphrase"


def _pids_with(directory: Path) -> list[int]:
    """Processes whose command line names this sandbox directory (from /proc)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if str(directory).encode() in cmd and b"\0sandbox\0serve\0" in cmd:
                found.append(int(p.name))
    return found


def _listen_addresses(ports: list[int]) -> set[str]:
    import socket
    import struct

    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        addr, port = parts[1].split(":")
        if parts[3] == "0A" and int(port, 16) in ports:
            found.add(socket.inet_ntoa(struct.pack("<I", int(addr, 16))))
    return found


def _gone(pid: int, wait: float = 5.0) -> bool:
    """No such process, or only its zombie entry until init reaps it (it runs no code and holds no port)."""
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sbdir(tmp_path):
    return seed_ca(tmp_path / "sandbox")  # the session's CA: no key generation in these tests


@pytest.fixture
def up(cli, sbdir):
    """Start the background sandbox; always stop it (and check it is gone) afterwards."""
    started = []

    def _up(*extra: str, fresh_ports: bool = True):
        ports = ["--port-base", "0"] if fresh_ports else []  # without: the ports of the last run again
        r = cli("sandbox", "up", "--dir", str(sbdir), *ports, "--vo", VO, "--json", *extra)
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        started.append(info)
        return info

    yield _up
    cli("sandbox", "down", "--dir", str(sbdir))
    assert _pids_with(sbdir) == []


def _client(info: dict, tmp_path: Path, p12: Path) -> requests.Session:
    key, cert, _ = pkcs12.load_key_and_certificates(p12.read_bytes(), PASS.encode())
    pem = tmp_path / "client.pem"
    pem.write_bytes(
        cert.public_bytes(Encoding.PEM) + key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    s = requests.Session()
    s.trust_env = False
    s.cert = str(pem)
    s.verify = info["trust_dir"]  # a hashed directory, as grid clients use it
    return s


def _issue(cli, sbdir: Path, tmp_path: Path, *extra: str) -> Path:
    pf = tmp_path / "pass.txt"
    pf.write_text(PASS + "\n")
    out = tmp_path / "jane.p12"
    r = cli(
        "sandbox",
        "issue",
        "--dir",
        str(sbdir),
        "--name",
        "Jane Doe",
        "--email",
        "jane@example.org",
        "--out",
        str(out),
        "--passphrase-file",
        str(pf),
        *extra,
    )
    assert r.returncode == 0, r.stderr
    assert "issued /DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=Personal/CN=Jane Doe" in r.stdout
    assert PASS not in r.stdout + r.stderr
    return out


def _register(s: requests.Session, base: str) -> None:
    page = s.get(f"{base}/register/start.action", timeout=30)
    data = {
        "struts.token.name": "token",
        "token": token_of(page.text),
        "name": "Jane",
        "surname": "Doe",
        "institution": "U",
        "phoneNumber": "1",
        "address": "A",
        "emailAddress": "jane@example.org",
        "aupAccepted": "true",
    }
    assert (
        "Confirmation required."
        in s.post(f"{base}/register/submit-request.action", data=data, timeout=30).text
    )


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_up_status_down_leaves_no_process_and_no_port(cli, sbdir, up, tmp_path):
    info = up()
    pid = info["pid"]
    ports = [int(info["vos"][VO]["registration"].split(":")[2].split("/")[0]), info["ssh"]["port"]]
    assert set(listening_ports(ports)) == set(ports)
    assert _listen_addresses(ports) == {"127.0.0.1"}  # loopback only unless --bind says otherwise
    assert _pids_with(sbdir) == [pid]
    assert (sbdir / "sandbox.pid").read_text().strip() == str(pid)
    st = cli("sandbox", "status", "--dir", str(sbdir), "--json")
    assert json.loads(st.stdout)["running"] is True
    again = cli("sandbox", "up", "--dir", str(sbdir))
    assert again.returncode == 41 and "already running" in again.stderr
    r = cli("sandbox", "down", "--dir", str(sbdir))
    assert r.returncode == 0, r.stderr
    assert "stopped" in r.stdout
    assert _pids_with(sbdir) == [] and _gone(pid)
    assert listening_ports(ports) == []
    assert not (sbdir / "sandbox.pid").exists()
    st = cli("sandbox", "status", "--dir", str(sbdir), "--json")
    assert json.loads(st.stdout)["running"] is False
    assert "no sandbox was running" in cli("sandbox", "down", "--dir", str(sbdir)).stdout


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_up_prints_endpoints_and_a_valid_onboard_config(cli, sbdir):
    r = cli("sandbox", "up", "--dir", str(sbdir), "--port-base", "0", "--vo", VO, "--vo", "second")
    try:
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert f"/voms/{VO}/register/start.action" in out and "/voms/second/register/start.action" in out
        assert "submit host key fingerprint: SHA256:" in out
        toml_text = out[out.index("# A ready-made onboard configuration") : out.index("# Stop it with")]
        data = tomllib.loads(toml_text)
        from onboard.config import Config

        cfg = Config.model_validate(data)
        assert (
            cfg.vo == VO
            and cfg.ca.provider == "sandbox"
            and cfg.trust.cert_dir == sbdir.resolve() / "ca" / "certificates"
        )
        assert cfg.vos[VO].vomses[0].startswith(f'"{VO}" "localhost" "15000" "/DC=org/DC=onboard-sandbox/')
        assert cfg.submit_host.trust_host_key.startswith("SHA256:")
        conf = cli("sandbox", "config", "--dir", str(sbdir), "--email", "ann@example.org", "--user", "ann")
        cfg2 = Config.model_validate(tomllib.loads(conf.stdout))
        assert (
            cfg2.mail.kind == "maildir" and cfg2.mail.maildir == sbdir.resolve() / "mail" / "ann@example.org"
        )
        # as root the submit host is OpenSSH's sshd and ann's login a real account of the sandbox's
        assert cfg2.submit_host.user == ("obx-ann" if os.geteuid() == 0 else "ann")
    finally:
        cli("sandbox", "down", "--dir", str(sbdir))
    assert _pids_with(sbdir) == []


def test_issue_cli_legacy_and_refusals(cli, sbdir, tmp_path):
    out = _issue(cli, sbdir, tmp_path, "--legacy")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert (
        "legacy RC2-40"
        in cli(
            "sandbox",
            "issue",
            "--dir",
            str(sbdir),
            "--name",
            "X Y",
            "--email",
            "x@example.org",
            "--out",
            str(tmp_path / "x.p12"),
            "--passphrase-file",
            str(tmp_path / "pass.txt"),
            "--legacy",
        ).stdout
    )
    again = cli(
        "sandbox",
        "issue",
        "--dir",
        str(sbdir),
        "--name",
        "Jane Doe",
        "--email",
        "jane@example.org",
        "--out",
        str(out),
        "--passphrase-file",
        str(tmp_path / "pass.txt"),
    )
    assert again.returncode == 2 and "exists already" in again.stderr
    nopass = cli(
        "sandbox",
        "issue",
        "--dir",
        str(sbdir),
        "--name",
        "Jane Doe",
        "--email",
        "jane@example.org",
        "--out",
        str(tmp_path / "y.p12"),
    )
    assert (
        nopass.returncode == 2 and "--passphrase-file" in nopass.stderr and "Traceback" not in nopass.stderr
    )
    assert not (tmp_path / "y.p12").exists()


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_restart_keeps_requests_and_instructor_commands(cli, sbdir, up, tmp_path):
    p12 = _issue(cli, sbdir, tmp_path)
    info = up()
    s = _client(info, tmp_path, p12)
    base = info["vos"][VO]["registration"].removesuffix("/register/start.action")
    _register(s, base)
    assert cli("sandbox", "down", "--dir", str(sbdir)).returncode == 0
    info = up(fresh_ports=False)  # the same ports again, the same database
    assert base in info["vos"][VO]["registration"]
    reqs = json.loads(cli("sandbox", "requests", "--dir", str(sbdir), "--json").stdout)
    assert [(r["request_id"], r["status"]) for r in reqs] == [(1, "SUBMITTED")]
    page = s.get(f"{base}/register/start.action", timeout=30).text
    assert "still waiting for you to confirm it" in page
    # the link mailed before the restart still works after it
    from onboard.sandbox.mail import read_maildir

    body = read_maildir(sbdir / "mail" / "jane@example.org")[0].get_content()
    link = next(w for w in body.split() if "confirm-request.action" in w)
    assert "VO membership request confirmed." in s.get(link, timeout=30).text
    table = cli("sandbox", "requests", "--dir", str(sbdir))
    assert "CONFIRMED" in table.stdout and "jane@example.org" in table.stdout
    r = cli("sandbox", "approve", "--dir", str(sbdir), "--all")
    assert r.returncode == 0 and "approved request 1" in r.stdout
    api = s.get(
        f"{base}/apiv2/user-info.action",
        params={"dn": reqs[0]["subject"], "ca": reqs[0]["issuer"]},
        headers={"X-VOMS-CSRF-GUARD": ""},
        timeout=30,
    )
    assert api.status_code == 200 and api.json()["fqans"] == [f"/{VO}"]
    again = cli("sandbox", "approve", "--dir", str(sbdir), "1")
    assert again.returncode == 41 and "APPROVED" in again.stderr
    assert cli("sandbox", "reject", "--dir", str(sbdir), "99").returncode == 41
    st = cli("sandbox", "status", "--dir", str(sbdir))
    assert "1 APPROVED" in st.stdout and "members: 1" in st.stdout


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_reject_cli_deletes_and_mails(cli, sbdir, up, tmp_path):
    p12 = _issue(cli, sbdir, tmp_path)
    info = up()
    s = _client(info, tmp_path, p12)
    base = info["vos"][VO]["registration"].removesuffix("/register/start.action")
    _register(s, base)
    r = cli("sandbox", "reject", "--dir", str(sbdir), "1", "--reason", "unknown person")
    assert r.returncode == 0, r.stderr
    assert json.loads(cli("sandbox", "requests", "--dir", str(sbdir), "--json").stdout) == []
    from onboard.sandbox.mail import read_maildir

    last = read_maildir(sbdir / "mail" / "jane@example.org")[-1]
    assert last["Subject"].endswith("has been rejected.") and "unknown person" in last.get_content()
    assert "Welcome to the registration page" in s.get(f"{base}/register/start.action", timeout=30).text


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_port_in_use_is_one_clear_error(cli, sbdir, tmp_path):
    import socket

    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        r = cli("sandbox", "up", "--dir", str(sbdir), "--port-base", str(port))
        assert r.returncode == 41
        assert "did not start" in r.stderr and "Traceback" not in r.stderr
        assert _pids_with(sbdir) == []
    finally:
        busy.close()


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_on_approval_hook_via_cli(cli, sbdir, up, tmp_path):
    out = tmp_path / "hook.out"
    p12 = _issue(cli, sbdir, tmp_path)
    info = up(
        "--on-approval",
        f"sh -c 'echo \"$ONBOARD_DN|$ONBOARD_CA_DN|$ONBOARD_VO\" > {out}'",
        "--auto-approve-after",
        "0",
    )
    s = _client(info, tmp_path, p12)
    base = info["vos"][VO]["registration"].removesuffix("/register/start.action")
    _register(s, base)
    from onboard.sandbox.mail import read_maildir

    body = read_maildir(sbdir / "mail" / "jane@example.org")[0].get_content()
    link = next(w for w in body.split() if "confirm-request.action" in w)
    s.get(link, timeout=30)
    # approved at once, by the sandbox's ticker right after the confirmation (not inside its request): a
    # member is redirected to their home page
    import time

    deadline = time.monotonic() + 30
    while (
        s.get(f"{base}/register/start.action", allow_redirects=False, timeout=30).status_code != 302
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert s.get(f"{base}/register/start.action", allow_redirects=False, timeout=30).status_code == 302
    line = out.read_text().strip()  # the hook ran before the approval was recorded
    assert line.startswith("/DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=Personal/CN=Jane Doe|")
    assert line.endswith(f"|/DC=org/DC=onboard-sandbox/CN=Onboard Sandbox Personal CA|{VO}")
    assert os.environ.get("ONBOARD_DN") is None


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_authorize_and_ssh_with_the_printed_fingerprint(cli, sbdir, up, tmp_path):
    """Trust the right way: fetch the host key, check it against the printed fingerprint, then connect."""
    import subprocess

    from tests.lib.tools import require_tool

    for tool in ("ssh", "ssh-keygen", "ssh-keyscan"):
        require_tool(tool)
    info = up()
    port, printed = info["ssh"]["port"], info["ssh"]["fingerprint"]
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    r = cli("sandbox", "authorize", "--dir", str(sbdir), "--user", "ann", str(key) + ".pub")
    assert r.returncode == 0 and printed in r.stdout, r.stderr
    login = r.stdout.split()[0]  # as root: ann's own Unix account on OpenSSH's sshd
    real = info["ssh"]["server"] == "openssh"
    assert real == (os.geteuid() == 0) and login == ("obx-ann" if real else "ann")
    scan = subprocess.run(
        ["ssh-keyscan", "-p", str(port), "-t", "ed25519", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    known = tmp_path / "known_hosts"
    known.write_text(scan.stdout)
    fp = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(known)], capture_output=True, text=True, timeout=30
    ).stdout.split()[1]
    assert fp == printed
    r = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            str(key),
            "-p",
            str(port),
            f"{login}@127.0.0.1",
            "echo $HOME",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SSH_AUTH_SOCK": ""},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("/home/obx-ann" if real else str(sbdir.resolve() / "submit" / "home" / "ann"))


@pytest.mark.servers  # `onboard sandbox up`: the sandbox daemon
def test_seats_are_made_at_up_and_later_shown_once(up, cli, sbdir):
    from onboard.errors import Exit
    from onboard.sandbox import seats

    info = up("--seats", "2")
    assert len(info["seats"]) == 2 and len(set(info["seats"])) == 2
    more = cli("sandbox", "seats", "1", "--dir", str(sbdir), "--json")
    assert more.returncode == 0, more.stderr
    (token,) = json.loads(more.stdout)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", token)
    import sqlite3

    with sqlite3.connect(sbdir / "registration.sqlite") as db:  # kept as hashes only
        stored = [r[0] for r in db.execute("SELECT token_sha256 FROM seat")]
    assert len(stored) == 3 and token not in "".join(stored) and seats._digest(token) in stored
    bad = cli("sandbox", "seats", "0", "--dir", str(sbdir))
    assert bad.returncode == Exit.USAGE and "Traceback" not in bad.stderr
