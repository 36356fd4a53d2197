"""The SSH adapter against a real OpenSSH sshd: host keys, ~/.ssh/config, ProxyJump, authentication."""

from __future__ import annotations

import os
import signal
import subprocess

import paramiko
import pytest

from onboard.adapters import ssh, ssh_target
from onboard.errors import Exit, SSHError
from tests.lib.context import captured_ui
from tests.lib.servers.sshd import TEST_USER, make_host_keys

from .helpers import connect, target


def test_connects_with_known_host_key_and_runs_a_command(sshd, client_key, known_hosts):
    conn = connect(sshd, client_key, known_hosts)
    try:
        res = conn.run("id -un; echo $HOME")
        assert res.status == 0
        assert res.out.split()[0] == TEST_USER
        assert res.out.split()[1] == str(sshd.home)
        assert conn.run("exit 3").status == 3
    finally:
        conn.close()


def test_unknown_host_key_without_confirmation_is_refused(sshd, client_key, tmp_path):
    kh = tmp_path / "empty_known_hosts"
    with pytest.raises(SSHError) as e:
        connect(sshd, client_key, kh, ui=captured_ui(interactive=False))
    assert e.value.exit_code == Exit.HOST_KEY_UNKNOWN
    assert sshd.fingerprint in e.value.message  # the user is shown what to check
    assert "--trust-host-key" in e.value.hint
    assert not kh.exists()  # nothing was saved
    assert "Accepted publickey" not in sshd.log()  # never got as far as logging in


def test_unknown_host_key_declined_at_the_prompt_is_refused(sshd, client_key, tmp_path):
    kh = tmp_path / "kh"
    ui = captured_ui(interactive=True, answers=["n"])
    with pytest.raises(SSHError) as e:
        connect(sshd, client_key, kh, ui=ui)
    assert e.value.exit_code == Exit.HOST_KEY_UNKNOWN
    assert sshd.fingerprint in ui.out.getvalue()  # shown before asking
    assert not kh.exists()


def test_unknown_host_key_confirmed_at_the_prompt_is_saved(sshd, client_key, tmp_path):
    kh = tmp_path / "ssh" / "known_hosts"
    connect(sshd, client_key, kh, ui=captured_ui(interactive=True, answers=["yes"])).close()
    assert kh.read_text().startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert oct(kh.stat().st_mode & 0o777) == "0o600"
    connect(sshd, client_key, kh, ui=captured_ui(interactive=False)).close()  # known now: no question


def test_trust_host_key_flag_accepts_exactly_that_key_and_saves_it(sshd, client_key, tmp_path):
    kh = tmp_path / "known_hosts"
    connect(sshd, client_key, kh, trust=sshd.fingerprint).close()
    assert (
        kh.read_text().split()[2] == (sshd.host_key_dir / "ssh_host_ed25519_key.pub").read_text().split()[1]
    )
    connect(sshd, client_key, kh).close()  # next time without the flag


def test_trust_host_key_with_another_fingerprint_is_refused(sshd, client_key, tmp_path):
    kh = tmp_path / "known_hosts"
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(SSHError) as e:
        connect(sshd, client_key, kh, trust=wrong)
    assert e.value.exit_code == Exit.HOST_KEY_UNKNOWN
    assert wrong in e.value.message and sshd.fingerprint in e.value.message
    assert not kh.exists()


def test_changed_host_key_is_fatal_even_with_trust_flag(sshd_factory, client_key, tmp_path):
    first = sshd_factory("first")
    kh = tmp_path / "known_hosts"
    kh.write_text(first.known_hosts_line())
    old_fp = first.fingerprint
    port = first.port
    first.stop()
    impostor = sshd_factory("impostor", host_key_dir=make_host_keys(tmp_path / "other-keys"), port=port)
    new_fp = impostor.fingerprint
    assert new_fp != old_fp
    for trust in ("", new_fp):
        with pytest.raises(SSHError) as e:
            connect(impostor, client_key, kh, trust=trust)
        assert e.value.exit_code == Exit.HOST_KEY_CHANGED
        assert old_fp in e.value.message and new_fp in e.value.message
        assert "ssh-keygen -R" in e.value.hint
    assert kh.read_text() == first.known_hosts_line()  # the known key is never replaced
    assert "Accepted publickey" not in impostor.log()


def test_ssh_config_alias_hostname_user_port_identityfile(sshd, client_key, known_hosts, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host submit\n  HostName 127.0.0.1\n  User {TEST_USER}\n  Port {sshd.port}\n"
        f"  IdentityFile {client_key}\n  IdentitiesOnly yes\n"
    )
    t = ssh.resolve("submit", known_hosts=known_hosts, ssh_config=paramiko.SSHConfig.from_path(str(cfg)))
    assert (t.hostname, t.port, t.user, t.identity_files) == ("127.0.0.1", sshd.port, TEST_USER, [client_key])
    t.global_known_hosts = []
    conn = ssh.connect(t, captured_ui())
    assert conn.run("id -un").out.strip() == TEST_USER
    conn.close()


def test_proxyjump_through_a_bastion(sshd_factory, client_key, tmp_path):
    bastion = sshd_factory("bastion")
    submit = sshd_factory("submit", host_key_dir=make_host_keys(tmp_path / "submit-keys"))
    kh = tmp_path / "known_hosts"
    kh.write_text(bastion.known_hosts_line() + submit.known_hosts_line())
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n  User {TEST_USER}\n"
        f"  IdentityFile {client_key}\n\n"
        f"Host submit\n  HostName 127.0.0.1\n  Port {submit.port}\n  User {TEST_USER}\n"
        f"  IdentityFile {client_key}\n  ProxyJump bastion\n"
    )
    t = ssh.resolve("submit", known_hosts=kh, ssh_config=paramiko.SSHConfig.from_path(str(cfg)))
    assert [h.port for h in t.jump] == [bastion.port]
    for hop in (t, *t.jump):
        hop.global_known_hosts = []
    conn = ssh.connect(t, captured_ui())
    try:
        assert conn.run("echo via bastion").out.strip() == "via bastion"
        assert conn.tcp_connections == 2
    finally:
        conn.close()
    assert "direct-tcpip" in bastion.log() or "Accepted publickey" in bastion.log()
    assert submit.log().count("Accepted publickey") == 1
    # the submit host saw the connection arrive from the bastion, through its forwarding
    assert bastion.log().count("Accepted publickey") == 1


def test_key_not_authorized_fails_with_ssh_auth(sshd, known_hosts, tmp_path):
    from tests.lib.servers.sshd import make_client_key

    stranger = make_client_key(tmp_path / "stranger" / "id_ed25519")
    with pytest.raises(SSHError) as e:
        connect(sshd, stranger, known_hosts)
    assert e.value.exit_code == Exit.SSH_AUTH
    assert str(stranger) in e.value.message
    assert "authorized_keys" in e.value.hint


def test_agent_key_is_used(sshd, client_key, known_hosts, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.01"])
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(client_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path / "nohome"))  # no default key files to fall back on
        t = ssh.resolve(
            "127.0.0.1",
            user=TEST_USER,
            port=sshd.port,
            known_hosts=known_hosts,
            ssh_config=paramiko.SSHConfig(),
        )
        t.global_known_hosts = []
        conn = ssh.connect(t, captured_ui())
        assert conn.run("true").status == 0
        conn.close()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=5)


def test_unreachable_port_is_a_network_error(client_key, known_hosts, sshd):
    from tests.lib.servers.sshd import free_port

    t = target(sshd, client_key, known_hosts)
    t.port = free_port()
    with pytest.raises(SSHError) as e:
        ssh.connect(t, captured_ui())
    assert e.value.exit_code == Exit.NETWORK


def test_password_prompt_when_no_key_works(sshd_factory, tmp_path):
    """With a terminal, a host that takes passwords gets one typed at onboard's prompt."""
    from tests.lib.servers.sshd import TEST_USER, make_client_key

    server = sshd_factory(extra_config=["PasswordAuthentication yes"])
    kh = tmp_path / "kh"
    kh.write_text(server.known_hosts_line())
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="typed at the prompt\n",
                            capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["usermod", "-p", hashed, TEST_USER], check=True)
    try:
        stranger = make_client_key(tmp_path / "stranger" / "id_ed25519")  # not authorized
        ui = captured_ui(interactive=True, answers=["typed at the prompt"] * 3)
        conn = connect(server, stranger, kh, ui=ui)
        assert conn.run("id -un").out.strip() == TEST_USER
        conn.close()
        with pytest.raises(SSHError) as e:  # without a terminal: no prompt, a clear error
            connect(server, stranger, kh, ui=captured_ui(interactive=False))
        assert e.value.exit_code == Exit.SSH_AUTH
    finally:
        subprocess.run(["usermod", "-p", "*", TEST_USER], check=True)


def test_encrypted_identity_file_is_unlocked_at_the_prompt(sshd, known_hosts, tmp_path, submit_home):
    key = tmp_path / "enc" / "id_ed25519"
    key.parent.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "key passphrase", "-f", str(key)], check=True)
    ak = submit_home / ".ssh" / "authorized_keys"
    ak.write_text(ak.read_text() + (tmp_path / "enc" / "id_ed25519.pub").read_text())
    conn = connect(sshd, key, known_hosts, ui=captured_ui(interactive=True, answers=["key passphrase"]))
    assert conn.run("true").status == 0
    conn.close()
    with pytest.raises(SSHError) as e:
        connect(sshd, key, known_hosts, ui=captured_ui(interactive=False))
    assert e.value.exit_code == Exit.SSH_AUTH


def test_unknown_bastion_key_is_refused_and_the_flag_does_not_cover_it(sshd_factory, client_key, tmp_path):
    bastion = sshd_factory("bastion")
    submit = sshd_factory("submit", host_key_dir=make_host_keys(tmp_path / "submit-keys"))
    kh = tmp_path / "known_hosts"
    kh.write_text(submit.known_hosts_line())  # the submit host is known, the bastion is not
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host bastion\n  HostName 127.0.0.1\n  Port {bastion.port}\n  User {TEST_USER}\n"
                   f"  IdentityFile {client_key}\n\n"
                   f"Host submit\n  HostName 127.0.0.1\n  Port {submit.port}\n  User {TEST_USER}\n"
                   f"  IdentityFile {client_key}\n  ProxyJump bastion\n")
    t = ssh.resolve("submit", known_hosts=kh, ssh_config=paramiko.SSHConfig.from_path(str(cfg)))
    for hop in (t, *t.jump):
        hop.global_known_hosts = []
    with pytest.raises(SSHError) as e:
        ssh.connect(t, captured_ui(), trust_host_key=bastion.fingerprint)
    assert e.value.exit_code == Exit.HOST_KEY_UNKNOWN
    assert bastion.fingerprint in e.value.message and "bastion" in e.value.hint
    assert kh.read_text() == submit.known_hosts_line()


def test_hashknownhosts_saves_a_hashed_entry_that_is_found_again(sshd, client_key, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host *\n  HashKnownHosts yes\n  IdentityFile {client_key}\n")
    kh = tmp_path / "known_hosts"
    conf = ssh_target.load_ssh_config(cfg, system=None)
    t = ssh.resolve("127.0.0.1", user=TEST_USER, port=sshd.port, known_hosts=kh, ssh_config=conf)
    t.global_known_hosts = []
    ssh.connect(t, captured_ui(), trust_host_key=sshd.fingerprint).close()
    line = kh.read_text()
    assert line.startswith("|1|") and "127.0.0.1" not in line
    t = ssh.resolve("127.0.0.1", user=TEST_USER, port=sshd.port, known_hosts=kh, ssh_config=conf)
    t.global_known_hosts = []
    ssh.connect(t, captured_ui()).close()  # known now, without the flag
    # and OpenSSH itself reads what onboard wrote
    r = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{sshd.port}", "-f", str(kh)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "found" in r.stdout


def _host_key(sshd) -> tuple[str, str]:
    kind, blob = (sshd.host_key_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    return kind, blob


def test_known_hosts_lines_paramiko_cannot_read_are_skipped_with_a_note(sshd, client_key, tmp_path):
    """Reproduced: valid OpenSSH lines (@cert-authority, @revoked of another key) and a line OpenSSH skips
    made delivery stop with `internal error: InvalidHostKey`."""
    kind, blob = _host_key(sshd)
    other = paramiko.Ed25519Key.from_private_key_file(str(make_host_keys(tmp_path / "other") /
                                                          "ssh_host_ed25519_key"))
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# a comment\n"
        f"@cert-authority * {kind} {blob}\n"
        f"@revoked * {other.get_name()} {other.get_base64()}\n"
        "garbage-without-a-key\n"
        f"host.example.org ssh-ed25519 not-base64!!\n"
        f"[127.0.0.1]:{sshd.port} {kind} {blob}\n"
    )
    ui = captured_ui()
    conn = connect(sshd, client_key, kh, ui=ui)
    try:
        assert conn.run("true").status == 0
    finally:
        conn.close()
    notes = ui.out.getvalue()
    assert f"{kh}:2: @cert-authority" in notes and f"{kh}:4: not a known_hosts line" in notes
    assert f"{kh}:5:" in notes


@pytest.mark.parametrize(
    "pattern", ["[127.0.0.?]:{port}", "[127.0.0.*]:*", "|hashed|", "x,[127.0.0.1]:{port}"]
)
def test_known_hosts_patterns_as_openssh_reads_them(sshd, client_key, tmp_path, pattern):
    kind, blob = _host_key(sshd)
    name = f"[127.0.0.1]:{sshd.port}"
    hosts = paramiko.HostKeys.hash_host(name) if pattern == "|hashed|" else pattern.format(port=sshd.port)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{hosts} {kind} {blob}\n")
    conn = connect(sshd, client_key, kh, ui=captured_ui(interactive=False))
    conn.close()


def test_a_negated_pattern_excludes_the_host(sshd, client_key, tmp_path):
    kind, blob = _host_key(sshd)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.*]:*,![127.0.0.1]:{sshd.port} {kind} {blob}\n")
    with pytest.raises(SSHError) as e:
        connect(sshd, client_key, kh, ui=captured_ui(interactive=False))
    assert e.value.exit_code == Exit.HOST_KEY_UNKNOWN


@pytest.mark.parametrize("also_listed", [True, False])
def test_a_revoked_host_key_is_refused_even_when_listed_or_trusted(sshd, client_key, tmp_path, also_listed):
    kind, blob = _host_key(sshd)
    kh = tmp_path / "known_hosts"
    plain = f"[127.0.0.1]:{sshd.port} {kind} {blob}\n" if also_listed else ""
    kh.write_text(plain + f"@revoked [127.0.0.1]:{sshd.port} {kind} {blob}\n")
    before = kh.read_text()
    with pytest.raises(SSHError) as e:
        connect(sshd, client_key, kh, ui=captured_ui(interactive=False), trust=sshd.fingerprint)
    assert e.value.exit_code == Exit.HOST_KEY_REVOKED
    assert "REVOKED" in e.value.message and f"{kh}:" in e.value.message
    assert kh.read_text() == before  # the --trust-host-key flag saved nothing
    assert "Accepted publickey" not in sshd.log()
