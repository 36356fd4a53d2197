"""The submit host of a sandbox run as root (issue 14): Debian's OpenSSH sshd with a real Unix account per
seat, exactly like a cluster's login node; `sandbox down` removes the accounts it made and nothing else.
Used with the real OpenSSH client (ssh, sftp) and host-key checking on; the trainees' seats and keys go
through the sandbox's portal as `onboard sandbox join` sends them."""

from __future__ import annotations

import grp
import json
import os
import pwd
import resource
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from onboard.sandbox.submit_host.accounts import HOME_BASE
from tests.lib.sandbox import start_sandbox
from tests.sandbox.test_attacker import new_key, post, seated, ssh, ssh_opts

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


def sftp(sandbox, opts: list[str], user: str, batch: str, tmp_path: Path) -> subprocess.CompletedProcess:
    from tests.lib.tools import require_tool

    f = tmp_path / "batch"
    f.write_text(batch)
    return subprocess.run([require_tool("sftp"), *opts, "-P", str(sandbox.ssh_port), "-b", str(f),
                           f"{user}@127.0.0.1"], capture_output=True, timeout=60)


def test_the_submit_host_is_openssh_with_a_key_only_account_per_seat(sandbox, tmp_path):
    with socket.create_connection(("127.0.0.1", sandbox.ssh_port), timeout=10) as s:
        banner = s.recv(256)
    assert banner.startswith(b"SSH-2.0-OpenSSH_"), banner
    pid = int((sandbox.dir / "submit" / "sshd.pid").read_text())
    assert os.readlink(f"/proc/{pid}/exe").endswith("/sshd")
    assert str(sandbox.dir / "submit" / "sshd_config").encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert sandbox.endpoints()["ssh"]["server"] == "openssh"
    _, key = seated(sandbox, tmp_path, "alice")
    pw = pwd.getpwnam("obx-alice")
    home = Path(pw.pw_dir)
    assert home == HOME_BASE / "obx-alice" == sandbox.ssh_home("alice")
    st = home.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == pw.pw_uid
    ak = home / ".ssh" / "authorized_keys"
    assert ak.stat().st_uid == pw.pw_uid and stat.S_IMODE(ak.stat().st_mode) == 0o600
    opts = ssh_opts(sandbox, tmp_path, key)
    r = ssh(sandbox, opts, "obx-alice", "id -un; pwd; echo $X509_CERT_DIR")
    assert r.returncode == 0, r.stderr
    name, cwd, cert_dir = r.stdout.decode().split()
    assert (name, cwd) == ("obx-alice", str(home))
    assert sorted(os.listdir(cert_dir)) == sorted(os.listdir(sandbox.trust_dir))  # the public trust copy
    # key-only: a password (or keyboard-interactive) login is not even offered
    pw_opts = [("BatchMode=no" if o == "BatchMode=yes" else o) for o in opts] + [
        "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
        "-o", "NumberOfPasswordPrompts=1"]
    r = subprocess.run(["ssh", *pw_opts, "-p", str(sandbox.ssh_port), "obx-alice@127.0.0.1", "true"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                       env={**os.environ, "SSH_AUTH_SOCK": "", "SSH_ASKPASS_REQUIRE": "force",
                            "SSH_ASKPASS": "/bin/echo"})  # a password, were one asked for
    # the server names the methods it would take: public keys only
    assert r.returncode == 255 and b"Permission denied (publickey)" in r.stderr, r.stderr


def test_one_trainee_cannot_read_anothers_home_by_ssh_or_sftp(sandbox, tmp_path):
    _, alice_key = seated(sandbox, tmp_path, "alice")
    _, bob_key = seated(sandbox, tmp_path, "bob")
    alice = ssh_opts(sandbox, tmp_path, alice_key)
    assert ssh(sandbox, alice, "obx-alice", "umask 022; echo alices-secret > notes.txt").returncode == 0
    bob = ssh_opts(sandbox, tmp_path, bob_key)
    home = sandbox.ssh_home("alice")
    for attempt in (f"cat {home}/notes.txt", f"ls {home}", f"cat {home}/.ssh/authorized_keys"):
        r = ssh(sandbox, bob, "obx-bob", attempt)
        assert r.returncode != 0 and b"Permission denied" in r.stderr, (attempt, r.stderr)
        assert b"alices-secret" not in r.stdout
    got = tmp_path / "got"
    r = sftp(sandbox, alice, "obx-alice", f"get {home}/notes.txt {got}\n", tmp_path)  # there, for alice
    assert r.returncode == 0 and got.read_text() == "alices-secret\n"
    got.unlink()
    r = sftp(sandbox, bob, "obx-bob", f"get {home}/notes.txt {got}\n", tmp_path)
    # sftp's glob reports the EACCES of alice's home as "not found"
    assert r.returncode != 0 and not got.exists(), r.stderr
    r = sftp(sandbox, bob, "obx-bob", f"ls {home}\n", tmp_path)
    assert r.returncode != 0 and b"notes.txt" not in r.stdout
    r = sftp(sandbox, bob, "obx-bob", f"put {bob_key}.pub {home}/planted\n", tmp_path)
    assert r.returncode != 0 and not (home / "planted").exists()
    # a link bob makes to alice's file leads nowhere either (the kernel, not the sandbox, says no)
    assert ssh(sandbox, bob, "obx-bob", f"ln -s {home}/notes.txt esc").returncode == 0
    r = sftp(sandbox, bob, "obx-bob", f"get esc {got}\n", tmp_path)
    assert r.returncode != 0 and not got.exists()
    # nor can bob log in as alice with his key
    r = ssh(sandbox, bob, "obx-alice", "true")
    assert r.returncode == 255 and b"Permission denied" in r.stderr


def test_no_trainee_runs_as_the_instructor(sandbox, tmp_path):
    _, key = seated(sandbox, tmp_path, "mallory")
    opts = ssh_opts(sandbox, tmp_path, key)
    root_key = sandbox.dir / "ca" / "private" / "root.key"
    for attempt in (f"cat {root_key}", f"ls {sandbox.dir}", f"cat /proc/{os.getpid()}/environ",
                    f"kill -0 {os.getpid()}", "sudo -n id", "su -c id root </dev/null", "cat /etc/shadow"):
        r = ssh(sandbox, opts, "obx-mallory", attempt)
        assert r.returncode != 0, attempt
        assert b"BEGIN" not in r.stdout and b"uid=0" not in r.stdout and b"root:" not in r.stdout
    assert ssh(sandbox, opts, "obx-mallory", "id -u").stdout.strip() != b"0"
    # root, the instructor's login and an account the sandbox did not make: no login, whatever the key
    for user in ("root", "instructor", pwd.getpwuid(0).pw_name):
        r = ssh(sandbox, opts, user, "true")
        assert r.returncode == 255, user
    # the portal never hands out an existing account, nor one the instructor made (no seat owns it)
    instructor = new_key(tmp_path / "instructor")
    sandbox.authorize_ssh_key("instructor", instructor.with_suffix(".pub").read_text())
    token = seats_token(sandbox)
    r = post(sandbox, "/portal/ssh-key", {"user": "instructor", "public_key": key.with_suffix(".pub")
                                          .read_text()}, token)
    assert r.status_code == 403


def test_one_seats_fork_bomb_stops_at_its_own_ceiling(sandbox, tmp_path):
    from onboard.sandbox.submit_host.sshd import SEAT_LIMITS

    ceiling = SEAT_LIMITS[resource.RLIMIT_NPROC]
    _, mallory_key = seated(sandbox, tmp_path, "mallory")
    _, bob_key = seated(sandbox, tmp_path, "bob")
    mallory = ssh_opts(sandbox, tmp_path, mallory_key)
    limits = ssh(sandbox, mallory, "obx-mallory", "cat /proc/self/limits").stdout.decode()
    soft = {line[:26].strip(): line[26:].split()[0] for line in limits.splitlines()[1:]}
    assert (soft["Max processes"], soft["Max file size"], soft["Max core file size"]) == (
        str(ceiling), str(SEAT_LIMITS[resource.RLIMIT_FSIZE]), "0")
    # more sleepers than the ceiling: the fork fails for mallory's uid, and only for it
    bomb = (f"n=0; i=0; while [ $i -lt {ceiling + 50} ]; do sleep 20 2>/dev/null & "
            "[ $? -eq 0 ] && n=$((n+1)); i=$((i+1)); done; echo started; sleep 1")
    proc = subprocess.Popen(["ssh", *mallory, "-p", str(sandbox.ssh_port), "obx-mallory@127.0.0.1", bomb],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=120)
        assert b"fork" in err.lower() or b"resource temporarily unavailable" in err.lower(), err[-500:]
        running = int(subprocess.run(["pgrep", "-c", "-u", "obx-mallory"], capture_output=True).stdout or 0)
        assert running <= ceiling
        # the room carries on: another seat logs in and runs commands while mallory's sleepers live
        r = ssh(sandbox, ssh_opts(sandbox, tmp_path, bob_key), "obx-bob", "echo still-here")
        assert r.returncode == 0 and r.stdout.strip() == b"still-here", r.stderr
    finally:
        subprocess.run(["pkill", "-KILL", "-u", "obx-mallory"], capture_output=True)


def seats_token(sandbox) -> str:
    from onboard.sandbox import seats

    return seats.make(sandbox.ctx, 1)[0]


def _useradd(name: str) -> None:
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True, capture_output=True)


def _userdel(name: str) -> None:
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def test_sandbox_down_removes_the_accounts_it_made_and_nothing_else(cli, tmp_path):
    from tests.lib.sandbox import VO, seed_ca

    bystander = "obx-bystander"  # the sandbox's prefix, not the sandbox's account
    _userdel(bystander)
    _useradd(bystander)
    try:
        sbdir = seed_ca(tmp_path / "sb")
        key = new_key(tmp_path / "inst")
        up = cli("sandbox", "up", "--dir", str(sbdir), "--port-base", "0", "--vo", VO, "--json",
                 "--ssh-key", f"{key}.pub", "--ssh-user", "teacher", "--seats", "2")
        assert up.returncode == 0, up.stderr
        info = json.loads(up.stdout)
        assert info["ssh"]["server"] == "openssh"

        class Running:  # enough of a Sandbox for the helpers (the daemon's ports)
            settings = type("S", (), {"ports": {"open": int(info["open"].rsplit(":", 1)[1])}})
            ca = type("C", (), {"bundle_path": sbdir / "ca" / "ca-bundle.pem"})

        public = key.with_suffix(".pub").read_text()
        r = post(Running, "/portal/ssh-key", {"user": "zoe", "public_key": public}, info["seats"][0])
        assert r.status_code == 200 and r.json()["user"] == "obx-zoe"
        # the trainee's seat cannot take the pre-existing account with the sandbox's prefix
        r = post(Running, "/portal/ssh-key", {"user": "bystander", "public_key": public}, info["seats"][1])
        assert r.status_code == 403
        made = {"obx-teacher", "obx-zoe"}
        for name in made:
            assert Path(pwd.getpwnam(name).pw_dir).is_dir()
        ledger = json.loads((sbdir / "submit" / "accounts.json").read_text())
        assert set(ledger["accounts"]) == made
        group = next(iter(ledger["groups"]))
        assert set(grp.getgrnam(group).gr_mem) == made
        down = cli("sandbox", "down", "--dir", str(sbdir))
        assert down.returncode == 0, down.stderr
        for name in made:
            with pytest.raises(KeyError):
                pwd.getpwnam(name)
            assert not (HOME_BASE / name).exists()
        with pytest.raises(KeyError):
            grp.getgrnam(group)
        assert pwd.getpwnam(bystander).pw_dir == str(HOME_BASE / bystander)
        assert (HOME_BASE / bystander).is_dir()
    finally:
        cli("sandbox", "down", "--dir", str(tmp_path / "sb"))
        _userdel(bystander)


def gone(pid: int) -> bool:
    for _ in range(50):
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True  # dead, not yet reaped (the container's init may be slow to)
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_a_killed_sandboxs_sshd_and_accounts_are_cleaned_up(cli, tmp_path):
    from tests.lib.sandbox import VO, seed_ca

    sbdir = seed_ca(tmp_path / "sb")
    key = new_key(tmp_path / "inst")
    up = cli("sandbox", "up", "--dir", str(sbdir), "--port-base", "0", "--vo", VO, "--json",
             "--ssh-key", f"{key}.pub", "--ssh-user", "crashy")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    sshd_pid = int((sbdir / "submit" / "sshd.pid").read_text())
    try:
        os.kill(int(info["pid"]), signal.SIGKILL)  # the sandbox dies; its sshd and the account stay
        time.sleep(0.5)
        assert pwd.getpwnam("obx-crashy")
        os.kill(sshd_pid, 0)
        # the next start clears them before anything else
        again = cli("sandbox", "up", "--dir", str(sbdir), "--port-base", "0", "--vo", VO, "--json")
        assert again.returncode == 0, again.stderr
        with pytest.raises(KeyError):
            pwd.getpwnam("obx-crashy")
        assert gone(sshd_pid)
        # killed again: `sandbox down` then clears what it left
        again = json.loads(again.stdout)
        r = cli("sandbox", "authorize", "--dir", str(sbdir), "--user", "crashy2", f"{key}.pub")
        assert r.returncode == 0 and pwd.getpwnam("obx-crashy2"), r.stderr
        sshd_pid = int((sbdir / "submit" / "sshd.pid").read_text())
        os.kill(int(again["pid"]), signal.SIGKILL)
        assert gone(int(again["pid"]))
        down = cli("sandbox", "down", "--dir", str(sbdir))
        assert down.returncode == 0, down.stderr
        with pytest.raises(KeyError):
            pwd.getpwnam("obx-crashy2")
        assert gone(sshd_pid)
    finally:
        cli("sandbox", "down", "--dir", str(sbdir))
        _userdel("obx-crashy")
        _userdel("obx-crashy2")


def test_join_configures_the_seats_account_and_the_journeys_ssh_gets_in(cli, tmp_path):
    """`onboard sandbox join` writes the login the sandbox answers (obx-<user>) and the trust directory the
    sessions can read; onboard's own SSH connection (the journey's) then logs in with that configuration."""
    import tomllib

    from onboard.adapters import ssh as ssh_adapter
    from onboard.config import Config
    from tests.lib.sandbox import VO, seed_ca

    sbdir = seed_ca(tmp_path / "sb")
    up = cli("sandbox", "up", "--dir", str(sbdir), "--port-base", "0", "--vo", VO, "--json", "--seats", "1")
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    try:
        url = info["open"].replace(f"//{info['hostname']}:", "//localhost:")
        said = " ".join(info["root_sha256"].split()[:4])
        joined = cli("sandbox", "join", url, "--fingerprint", said, "--token", info["seats"][0],
                     "--name", "Ola Nordmann", "--email", "ola.n@example.org")
        assert joined.returncode == 0, joined.stderr
        assert "lets your SSH key in as obx-ola.n" in joined.stdout
        path = tmp_path / "xdg-config" / "onboard" / "config.toml"
        cfg = Config.model_validate(tomllib.loads(path.read_text()))
        assert cfg.submit_host.user == "obx-ola.n" and pwd.getpwnam("obx-ola.n")
        cert_dir = Path(str(cfg.submit_host.x509_cert_dir))
        assert cert_dir.parent.parent == Path("/run/onboard-sandbox") and list(cert_dir.glob("*.0"))
        assert stat.S_IMODE(cert_dir.parent.stat().st_mode) == 0o755  # every seat reads it
        conn = ssh_adapter.connect_configured(cfg, None)
        try:
            r = conn.run("id -un; test -r \"$X509_CERT_DIR\" && echo trust-readable")
            assert r.out.split() == ["obx-ola.n", "trust-readable"]
        finally:
            conn.close()
    finally:
        cli("sandbox", "down", "--dir", str(sbdir))
    with pytest.raises(KeyError):
        pwd.getpwnam("obx-ola.n")


def test_long_user_names_map_to_distinct_accounts_useradd_takes():
    from onboard.sandbox.submit_host.accounts import MAX_NAME, account_name

    a, b = account_name("a" * 30 + "x"), account_name("a" * 30 + "y")
    assert a != b and len(a) == len(b) == MAX_NAME and a.startswith("obx-")
    assert account_name("trainee01") == "obx-trainee01"


def test_a_port_taken_is_one_error_and_leaves_no_group_nor_public_files(tmp_path):
    from onboard.errors import SandboxError
    from onboard.sandbox.submit_host.accounts import group_name
    from onboard.sandbox.submit_host.sshd import public_dir

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(SandboxError, match="cannot listen") as e:
            start_sandbox(tmp_path / "sb", submit_host="sshd", ports={"ssh": port})
    assert "sshd did not start" in e.value.message
    with pytest.raises(KeyError):
        grp.getgrnam(group_name((tmp_path / "sb").resolve()))
    assert not public_dir((tmp_path / "sb").resolve()).exists()


def test_sshds_effective_configuration_is_a_login_nodes_for_a_room(tmp_path):
    """What sshd itself says it will do (`sshd -T`), for a classroom address: key-only, no root, only the
    sandbox's accounts, no forwarding, per-source limits (not listening: -T only reads the file)."""
    from onboard.sandbox.processes import tool
    from onboard.sandbox.submit_host.sshd import SSHDHost

    host = SSHDHost(tmp_path / "sb" / "submit", tmp_path / "sb", "0.0.0.0", 2222)
    out = subprocess.run([tool("sshd"), "-T", "-f", str(host.write_config())], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    said = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.stdout.splitlines() if " " in line}
    assert said["passwordauthentication"] == "no" and said["kbdinteractiveauthentication"] == "no"
    assert said["pubkeyauthentication"] == "yes" and said["permitrootlogin"] == "no"
    assert said["allowgroups"] == host.group and said["strictmodes"] == "yes"
    assert said["disableforwarding"] == "yes" and said["permituserrc"] == "no"
    assert said["permittunnel"] == "no" and said["permituserenvironment"] == "no"
    assert said["subsystem"].split() == ["sftp", "internal-sftp"]
    assert said["maxstartups"] == "100:30:300" and said["persourcemaxstartups"] == "10"
    assert said["authorizedkeysfile"] == ".ssh/authorized_keys"
    assert "listenaddress" in said and said["port"] == "2222"


def test_no_forwarding_of_any_kind(sandbox, tmp_path):
    """The submit host is no stepping stone: a trainee's -W and -R forwarding is refused by sshd."""
    _, key = seated(sandbox, tmp_path, "fwd")
    opts = ssh_opts(sandbox, tmp_path, key)
    target = f"127.0.0.1:{sandbox.settings.ports['open']}"
    r = subprocess.run(["ssh", *opts, "-W", target, "-p", str(sandbox.ssh_port), "obx-fwd@127.0.0.1"],
                       capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and b"administratively prohibited" in r.stderr, r.stderr
    r = subprocess.run(["ssh", *opts, "-o", "ExitOnForwardFailure=yes", "-R", "0:" + target, "-p",
                        str(sandbox.ssh_port), "obx-fwd@127.0.0.1", "true"], capture_output=True, timeout=60)
    assert r.returncode != 0 and b"forwarding failed" in r.stderr.lower(), r.stderr
