"""The real-sshd submit host attacked by one seat against another (issue 14, red-team pass 2): each test is a
finding reproduced with the real OpenSSH client and Debian's proxy tools against a running sandbox as root."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from tests.lib.sandbox import start_sandbox
from tests.lib.tools import require_tool
from tests.sandbox.test_attacker import seated, ssh, ssh_opts

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(os.geteuid() != 0, reason="the real sshd submit host is the sandbox's as root"),
]


@pytest.fixture
def sandbox(tmp_path, clock):
    sb = start_sandbox(tmp_path / "sb", clock=clock, submit_host="sshd")
    try:
        yield sb
    finally:
        sb.stop()


def give_certificate(sandbox, account: str, name: str) -> None:
    """The seat's certificate in ~/.globus as `onboard` installs it (the key unencrypted here: no prompt)."""
    data, _ = sandbox.ctx.ca.issue_user(name, f"{name.lower()}@example.org", b"pass phrase 1")
    key, cert, _ = pkcs12.load_key_and_certificates(data, b"pass phrase 1")
    pw = pwd.getpwnam(account)
    globus = Path(pw.pw_dir) / ".globus"
    globus.mkdir(mode=0o700)
    (globus / "usercert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (globus / "userkey.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL,
                                                          NoEncryption()))
    os.chmod(globus / "userkey.pem", 0o400)
    for p in (globus, globus / "usercert.pem", globus / "userkey.pem"):
        os.chown(p, pw.pw_uid, pw.pw_gid)


@pytest.mark.parametrize("plant", ["a file anyone may write", "a link"])
def test_a_classmate_cannot_take_a_seats_default_proxy_file(sandbox, tmp_path, plant):
    require_tool("grid-proxy-init")
    _, alice_key = seated(sandbox, tmp_path, "alice")
    _, bob_key = seated(sandbox, tmp_path, "bob")
    give_certificate(sandbox, "obx-bob", "Bob Seat")
    bob_uid = pwd.getpwnam("obx-bob").pw_uid
    taken = f"/tmp/x509up_u{bob_uid}"
    alice = ssh_opts(sandbox, tmp_path, alice_key)
    how = (f"umask 0; : > {taken}; chmod 666 {taken}" if plant == "a file anyone may write"
           else f"ln -s /tmp/alice-gets-it {taken}")
    try:
        assert ssh(sandbox, alice, "obx-alice", how).returncode == 0
        # bob makes his proxy as every grid tutorial says, with no options
        bob = ssh_opts(sandbox, tmp_path, bob_key)
        r = ssh(sandbox, bob, "obx-bob", "grid-proxy-init && grid-proxy-info -path")
        assert r.returncode == 0, r.stdout + r.stderr
        path = r.stdout.decode().strip().splitlines()[-1]
        assert path.startswith(str(sandbox.ssh_home("bob")) + "/"), path  # his own, where alice cannot go
        st = os.lstat(path)
        assert st.st_uid == bob_uid and st.st_mode & 0o077 == 0
        assert not os.path.exists("/tmp/alice-gets-it")
        if os.path.isfile(taken) and not os.path.islink(taken):
            assert os.path.getsize(taken) == 0  # alice's file got nothing of bob's
        # and voms-proxy-info finds the proxy where grid-proxy-init put it
        if subprocess.run(["sh", "-c", "command -v voms-proxy-info"], capture_output=True).returncode == 0:
            r = ssh(sandbox, bob, "obx-bob", "voms-proxy-info -path")
            assert r.returncode == 0 and r.stdout.decode().strip() == path, r.stderr
    finally:
        for p in (taken, "/tmp/alice-gets-it"):
            if os.path.lexists(p):
                os.unlink(p)


def test_a_short_user_name_cannot_take_a_long_names_account(sandbox, tmp_path):
    """A long user name's account is its start and a hash; a short name spelled like that result must not
    map to the same account (it would be made first, and the long name's owner refused as a stranger)."""
    from onboard.sandbox.submit_host.accounts import account_name

    victim = "jane.doe.from.the.third.row.of.the.room"
    squatter = account_name(victim).removeprefix("obx-")  # 28 characters, every one a user name may have
    assert account_name(squatter) != account_name(victim)
    seated(sandbox, tmp_path, squatter)  # the squatter's seat takes that name first
    seated(sandbox, tmp_path, victim)  # and the victim still gets an account of their own (200)
    assert pwd.getpwnam(account_name(victim)).pw_uid != pwd.getpwnam(account_name(squatter)).pw_uid
