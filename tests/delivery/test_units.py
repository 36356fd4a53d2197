"""Fast checks without servers: the remote scripts' shape, the mode rules, ~/.ssh/config resolution."""

from __future__ import annotations

import paramiko
import pytest

from onboard.adapters import ssh, ssh_target
from onboard.delivery import scripts
from onboard.delivery.install import CERT, KEY, P12
from onboard.delivery.verify import _mode_rules, explain_failure, parse_fqans


@pytest.mark.parametrize("script", [scripts.CONVERT, scripts.PROBE_VOMS])
def test_remote_scripts_are_one_csh_safe_line(script):
    cmd = scripts.command(script)
    assert cmd.startswith("/bin/sh -c '") and cmd.endswith("'")
    body = cmd[len("/bin/sh -c '") : -1]
    assert "\n" not in body and "'" not in body and "!" not in body


def test_voms_proxy_script_takes_the_passphrase_from_stdin_only():
    body = scripts.voms_proxy("cms", ".glite/vomses/cms", ".voms/vomsdir", "/etc/grid-security/certificates")
    assert "-pwstdin" in body and "read -r PW" in body and 'printf "%s\\n" "$PW" |' in body
    assert "PW=" not in body.replace("|| PW=;", "")  # never assigned from anything but stdin
    for bad in ("a'b", "x;rm -rf ~", "$(id)", "`id`", "a\nb", "~/x"):
        with pytest.raises(ValueError):
            scripts.voms_proxy("cms", ".glite/vomses/cms", ".voms/vomsdir", bad)


def test_parse_takes_key_value_lines_only():
    out = scripts.parse("noise\nversion=OpenSSL 3.0.2 15 Mar 2022\nresult=ok\nBag Attributes: x=y\n")
    assert out == {"version": "OpenSSL 3.0.2 15 Mar 2022", "result": "ok"}


@pytest.mark.parametrize(
    ("name", "mode", "ok"),
    [
        (KEY, 0o400, True),
        (KEY, 0o600, True),
        (KEY, 0o640, False),
        (KEY, 0o644, False),
        (KEY, 0o700, False),
        (CERT, 0o644, True),
        (CERT, 0o600, True),
        (CERT, 0o444, True),
        (CERT, 0o664, False),
        (CERT, 0o755, False),
        (P12, 0o600, True),
        (P12, 0o400, False),
        (P12, 0o640, False),
    ],
)
def test_mode_rules_are_the_strictest_consumers(name, mode, ok):
    assert (_mode_rules(name, 0o100000 | mode) == "") is ok


def test_fqans_and_failure_explanations():
    out = (
        "subject   : /DC=org/CN=Jane\nattribute : /cms/Role=NULL/Capability=NULL\n"
        "attribute : /cms/uscms/Role=NULL/Capability=NULL\ninit_status=0\n"
    )
    assert parse_fqans(out) == ["/cms/Role=NULL/Capability=NULL", "/cms/uscms/Role=NULL/Capability=NULL"]
    first, hint = explain_failure(
        "cms", "Contacting localhost\nError: cms: User unknown to this VO.\ninit_status=1"
    )
    assert "User unknown" in first and "approval" in hint


def test_resolve_honours_ssh_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = paramiko.SSHConfig.from_text(
        "Host submit\n  HostName login.example.org\n  User jdoe\n  Port 2222\n"
        "  IdentityFile ~/.ssh/grid_key\n"
        "  ProxyJump gate@bastion.example.org:2200,inner\n  HostKeyAlias submit-alias\n"
        "  UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2\n"
        "Host inner\n  HostName 10.0.0.5\n  User ops\n"
    )
    t = ssh.resolve("submit", ssh_config=cfg)
    assert (t.hostname, t.user, t.port) == ("login.example.org", "jdoe", 2222)
    assert t.identity_files == [tmp_path / ".ssh" / "grid_key"]
    assert t.key_name == "submit-alias"
    assert t.user_known_hosts == [tmp_path / ".ssh" / "kh1", tmp_path / ".ssh" / "kh2"]
    assert [(h.user, h.hostname, h.port) for h in t.jump] == [
        ("gate", "bastion.example.org", 2200),
        ("ops", "10.0.0.5", 22),
    ]
    # onboard's own configuration wins over ~/.ssh/config, as a command line would
    t = ssh.resolve("submit", user="other", port=22, ssh_config=cfg)
    assert (t.user, t.port, t.display) == ("other", 22, "other@login.example.org")


def test_fingerprint_matches_openssh(tmp_path):
    import subprocess

    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    expected = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key) + ".pub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert ssh.fingerprint(paramiko.PKey.from_path(key)) == expected


def test_ssh_config_include_is_followed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    d = tmp_path / ".ssh"
    (d / "config.d").mkdir(parents=True)
    (d / "config").write_text("Include config.d/*.conf\nHost *\n  User fallback\n")
    (d / "config.d" / "grid.conf").write_text("Host submit\n  HostName login.example.org\n  User jdoe\n")
    t = ssh.resolve("submit", ssh_config=ssh_target.load_ssh_config(system=None))
    assert (t.hostname, t.user) == ("login.example.org", "jdoe")
