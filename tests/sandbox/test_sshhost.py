"""The submit host without root (paramiko, each trainee confined by bubblewrap), used with the real OpenSSH
client (ssh, scp, sftp) and host-key checking on. With root the sandbox's submit host is OpenSSH's sshd
instead: test_submit_sshd.py."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.lib.tools import require_tool

USER = "trainee"


@pytest.fixture
def sandbox(tmp_path, clock):
    from tests.lib.sandbox import start_sandbox

    sb = start_sandbox(tmp_path / "sb", clock=clock, submit_host="paramiko")
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def client_key(tmp_path) -> Path:
    require_tool("ssh-keygen")
    key = tmp_path / "client" / "id_ed25519"
    key.parent.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    return key


@pytest.fixture
def host(sandbox, client_key, tmp_path):
    """(ssh options, home): the trainee's key authorised, known_hosts written from the printed key."""
    sandbox.authorize_ssh_key(USER, client_key.with_suffix(".pub").read_text())
    known = tmp_path / "client" / "known_hosts"
    line = sandbox.ssh_known_hosts_line("127.0.0.1")
    known.write_text(line + "\n")
    # the line's key is the one whose fingerprint the sandbox prints
    blob = base64.b64decode(line.split()[2])
    assert (
        "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        == sandbox.ssh_fingerprint
    )
    opts = [
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(client_key),
        "-o",
        "ConnectTimeout=10",
        "-F",
        "/dev/null",
    ]
    return opts, sandbox.ssh_home(USER)


def ssh(sandbox, opts, command: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    exe = require_tool("ssh")
    return subprocess.run(
        [exe, *opts, "-p", str(sandbox.ssh_port), f"{USER}@127.0.0.1", command],
        input=input,
        capture_output=True,
        timeout=60,
        env={**os.environ, "SSH_AUTH_SOCK": ""},
    )


def test_exec_runs_in_the_home_with_exit_status_and_stdin(sandbox, host):
    opts, home = host
    r = ssh(sandbox, opts, "pwd; echo $HOME; umask; test -d .ssh && echo has-ssh-dir")
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().split()
    assert lines[0] == str(home) and lines[1] == str(home) and lines[3] == "has-ssh-dir"
    r = ssh(sandbox, opts, "cat > note.txt && chmod 0600 note.txt && ls -l note.txt", input=b"hello grid\n")
    assert r.returncode == 0 and (home / "note.txt").read_text() == "hello grid\n"
    assert stat.S_IMODE((home / "note.txt").stat().st_mode) == 0o600
    r = ssh(sandbox, opts, "echo oops >&2; exit 7")
    assert r.returncode == 7 and b"oops" in r.stderr


def test_openssl_on_the_host_reads_a_passphrase_from_stdin(sandbox, host, trainee):
    opts, home = host
    mk = ssh(
        sandbox,
        opts,
        "umask 077 && mkdir -p .globus && cat > .globus/usercred.p12",
        input=trainee.p12.read_bytes(),
    )
    assert mk.returncode == 0, mk.stderr.decode()
    r = ssh(
        sandbox,
        opts,
        "openssl pkcs12 -in .globus/usercred.p12 -clcerts -nokeys -passin stdin "
        "-out .globus/usercert.pem && openssl x509 -in .globus/usercert.pem -noout -subject -nameopt compat",
        input=b"correct horse battery staple\n",
    )
    assert r.returncode == 0, r.stderr.decode()
    assert trainee.subject in r.stdout.decode()
    assert stat.S_IMODE((home / ".globus").stat().st_mode) == 0o700


def test_sftp_put_get_rename_mkdir_chmod(sandbox, host, tmp_path):
    exe = require_tool("sftp")
    opts, home = host
    src = tmp_path / "local.txt"
    src.write_text("payload\n")
    os.chmod(src, 0o600)
    batch = tmp_path / "batch"
    batch.write_text(
        f"mkdir up\nput -p {src} up/a.txt\nrename up/a.txt up/b.txt\nchmod 640 up/b.txt\n"
        f"get up/b.txt {tmp_path / 'back.txt'}\nls -l up\npwd\n"
    )
    r = subprocess.run(
        [exe, *opts, "-P", str(sandbox.ssh_port), "-b", str(batch), f"{USER}@127.0.0.1"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    assert (home / "up" / "b.txt").read_text() == "payload\n" and not (home / "up" / "a.txt").exists()
    assert stat.S_IMODE((home / "up" / "b.txt").stat().st_mode) == 0o640
    assert (tmp_path / "back.txt").read_text() == "payload\n"
    assert f"Remote working directory: {home}" in r.stdout.decode()


def test_sftp_cannot_leave_the_home(sandbox, host, tmp_path):
    exe = require_tool("sftp")
    opts, home = host
    outside = sandbox.dir / "registration.sqlite"
    batch = tmp_path / "batch"
    batch.write_text(f"get {outside} {tmp_path / 'stolen'}\n")
    r = subprocess.run(
        [exe, *opts, "-P", str(sandbox.ssh_port), "-b", str(batch), f"{USER}@127.0.0.1"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode != 0 and not (tmp_path / "stolen").exists()
    batch.write_text("put /etc/hostname ../escaped\n")
    subprocess.run(
        [exe, *opts, "-P", str(sandbox.ssh_port), "-b", str(batch), f"{USER}@127.0.0.1"],
        capture_output=True,
        timeout=60,
    )
    assert not (home.parent / "escaped").exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["scp-sftp", "scp-legacy-protocol"])
def test_scp_both_protocols(sandbox, host, tmp_path, legacy):
    exe = require_tool("scp")
    opts, home = host
    src = tmp_path / "cert.pem"
    src.write_text("-----BEGIN CERTIFICATE-----\n")
    flags = ["-O"] if legacy else []
    r = subprocess.run(
        [exe, *flags, *opts, "-P", str(sandbox.ssh_port), str(src), f"{USER}@127.0.0.1:cert.pem"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr.decode()
    assert (home / "cert.pem").read_text() == src.read_text()
    back = tmp_path / "back.pem"
    r = subprocess.run(
        [exe, *flags, *opts, "-P", str(sandbox.ssh_port), f"{USER}@127.0.0.1:cert.pem", str(back)],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0 and back.read_text() == src.read_text()


def test_unknown_or_changed_host_key_is_refused_by_openssh(sandbox, host, tmp_path):
    opts, _ = host
    known = tmp_path / "client" / "known_hosts"
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    known.write_text(
        f"[127.0.0.1]:{sandbox.ssh_port} "
        + " ".join(other.with_suffix(".pub").read_text().split()[:2])
        + "\n"
    )
    r = ssh(sandbox, opts, "true")
    assert r.returncode == 255 and b"HOST IDENTIFICATION HAS CHANGED" in r.stderr
    known.write_text("")
    r = ssh(sandbox, opts, "true")
    assert r.returncode == 255 and b"Host key verification failed" in r.stderr


def test_a_key_not_in_authorized_keys_is_refused(sandbox, host, tmp_path):
    opts, home = host
    stranger = tmp_path / "stranger"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True, timeout=30
    )
    bad = list(opts)
    bad[bad.index("-i") + 1] = str(stranger)
    r = ssh(sandbox, bad, "touch pwned")
    assert r.returncode == 255 and b"Permission denied" in r.stderr
    assert not (home / "pwned").exists()
    r = subprocess.run(
        [require_tool("ssh"), *opts, "-p", str(sandbox.ssh_port), "nobody@127.0.0.1", "true"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 255


def test_host_key_is_kept_across_restarts(sandbox, tmp_path):
    from tests.lib.sandbox import start_sandbox

    fp = sandbox.ssh_fingerprint
    directory = sandbox.dir
    sandbox.stop()
    again = start_sandbox(directory)
    try:
        assert again.ssh_fingerprint == fp
        key = directory / "submit" / "ssh_host_ed25519_key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    finally:
        again.stop()


def _procs_in(home: Path) -> list[int]:
    """Processes whose working directory is inside `home` (what a client's commands leave running)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cwd = os.readlink(p / "cwd")
            except OSError:
                continue
            if cwd == str(home) or cwd.startswith(str(home) + "/"):
                found.append(int(p.name))
    return found


def test_stopping_the_sandbox_ends_client_commands(sandbox, host):
    """`sandbox down` must leave no process behind, including what trainees started over SSH."""
    import time

    opts, home = host
    exe = require_tool("ssh")
    client = subprocess.Popen(
        [
            exe,
            *opts,
            "-p",
            str(sandbox.ssh_port),
            f"{USER}@127.0.0.1",
            "echo started; sleep 300 & sleep 301; echo never",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SSH_AUTH_SOCK": ""},
    )
    try:
        assert client.stdout.readline() == b"started\n"
        deadline = time.monotonic() + 10
        while len(_procs_in(home)) < 3 and time.monotonic() < deadline:  # sh, sleep 300, sleep 301
            time.sleep(0.05)
        assert len(_procs_in(home)) >= 3
        sandbox.stop()
        deadline = time.monotonic() + 10
        while _procs_in(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _procs_in(home) == []
    finally:
        client.kill()
        client.wait(10)


def test_a_client_going_away_hangs_up_its_commands(sandbox, host):
    import time

    opts, home = host
    exe = require_tool("ssh")
    client = subprocess.Popen(
        [exe, *opts, "-p", str(sandbox.ssh_port), f"{USER}@127.0.0.1", "echo started; sleep 300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SSH_AUTH_SOCK": ""},
    )
    assert client.stdout.readline() == b"started\n"
    client.kill()  # the trainee's laptop drops off the network
    client.wait(10)
    deadline = time.monotonic() + 10
    while _procs_in(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _procs_in(home) == []


def test_a_quick_command_never_closes_before_its_exec_request_is_answered(sandbox, host, client_key,
                                                                          monkeypatch):
    """Under load the server's transport thread may be held up between accepting an exec request and
    answering it; a command that ends at once must not close the channel first (paramiko's client would
    fail with "Channel closed."). The hold-up is made certain here."""
    import time

    import paramiko

    from onboard.sandbox.submit_host import server as sshhost

    accept = sshhost._Server.check_channel_exec_request

    def slow_answer(self, channel, command):
        ok = accept(self, channel, command)
        time.sleep(0.3)  # the transport thread descheduled before it sends the answer
        return ok

    monkeypatch.setattr(sshhost._Server, "check_channel_exec_request", slow_answer)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    hostkey_line = sandbox.ssh_known_hosts_line("127.0.0.1").split()
    client.get_host_keys().add(hostkey_line[0], hostkey_line[1], paramiko.PKey.from_type_string(
        hostkey_line[1], base64.b64decode(hostkey_line[2])))
    client.connect("127.0.0.1", sandbox.ssh_port, username=USER, key_filename=str(client_key),
                   allow_agent=False, look_for_keys=False, timeout=10)
    try:
        for _ in range(3):
            chan = client.get_transport().open_session(timeout=10)
            chan.exec_command("echo quick")
            assert chan.recv_exit_status() == 0
            assert chan.makefile("rb").read() == b"quick\n"
            chan.close()
    finally:
        client.close()
