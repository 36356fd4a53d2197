"""`onboard doctor`: a checklist that passes on a good installation and names each problem with a fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onboard.errors import Exit


@pytest.fixture
def globus(cli, pki, jose, pwfile):
    r = cli("convert", str(pki.p12(jose, "doc.p12")), "--passphrase-file", str(pwfile))
    assert r.returncode == 0, r.stderr
    return Path(os.environ["HOME"]) / ".globus"


@pytest.fixture
def voms_env(tmp_path):
    vomses = tmp_path / "vomses"
    vomses.write_text('"testvo" "voms.example.org" "15000" "/DC=org/DC=x/CN=voms.example.org" "testvo"\n')
    vomsdir = tmp_path / "vomsdir"
    (vomsdir / "testvo").mkdir(parents=True)
    return {"VOMS_USERCONF": str(vomses), "X509_VOMS_DIR": str(vomsdir)}, vomsdir


def test_all_good(cli, globus, pki, pwfile, voms_env):
    env, vomsdir = voms_env
    (vomsdir / "testvo" / "voms.example.org.lsc").write_text(
        "/DC=org/DC=x/CN=voms.example.org\n/DC=org/CN=CA\n"
    )
    r = cli(
        "doctor",
        "--vo",
        "testvo",
        "--passphrase-file",
        str(pwfile),
        env={"X509_CERT_DIR": str(pki.trust), **env},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for line in (
        "key decrypts",
        "key matches certificate",
        "issuer trusted",
        "vomses for testvo",
        "LSC files for testvo",
        "key owner and mode (600)",
        "cert owner and mode (644)",
    ):
        assert f"[ ok ] {line}" in r.stdout, (line, r.stdout)
    assert "all checks passed" in r.stdout


def test_loose_key_mode_fails_with_fix(cli, globus, pki):
    key = (globus / "userkey.pem").resolve()
    os.chmod(key, 0o644)
    r = cli("doctor", env={"X509_CERT_DIR": str(pki.trust)})
    assert r.returncode == Exit.CREDENTIAL
    assert "[FAIL] key owner and mode (644)" in r.stdout
    assert "grid-proxy-init (GCT) allows at most 600" in r.stdout
    assert f"fix: chmod 600 {key}" in r.stdout
    assert "key decrypts: no passphrase given" in r.stdout  # skipped, not failed, without a passphrase


def test_java_rule_for_0700_key_and_p12(cli, globus, pki):
    os.chmod((globus / "userkey.pem").resolve(), 0o700)  # GCT refuses u+x; Java wants exactly 400/600
    p12 = globus / "usercred.p12"
    p12.write_bytes(next(globus.glob("package-*.p12")).read_bytes())
    os.chmod(p12, 0o400)
    r = cli("doctor", env={"X509_CERT_DIR": str(pki.trust)})
    assert r.returncode == Exit.CREDENTIAL
    assert "voms-proxy-init (Java) wants exactly 400 or 600" in r.stdout
    assert "[FAIL] usercred.p12 owner and mode (400)" in r.stdout


def test_missing_files_trust_and_vo(cli, tmp_path, voms_env):
    env, _ = voms_env
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "vomses").write_text('"othervo" "h" "1" "/CN=h" "othervo"\n')
    r = cli(
        "doctor", "--dir", str(empty), "--vo", "testvo", env={"X509_CERT_DIR": str(tmp_path / "nope"), **env}
    )
    assert r.returncode == Exit.CREDENTIAL
    assert f"[FAIL] certificate {empty}/usercert.pem: missing" in r.stdout
    assert "onboard convert" in r.stdout
    assert "[FAIL] trust directory" in r.stdout
    assert "[FAIL] vomses for testvo" in r.stdout
    assert "[FAIL] LSC files for testvo" in r.stdout


def test_issuer_not_in_trust_dir(cli, globus, tmp_path):
    other = tmp_path / "other-trust"
    other.mkdir()
    r = cli("doctor", env={"X509_CERT_DIR": str(other)})
    assert r.returncode == Exit.CREDENTIAL
    assert "[FAIL] issuer trusted" in r.stdout and "Onboard Test Issuing CA 2" in r.stdout


def test_wrong_passphrase_and_mismatched_key(cli, globus, pki, pwfile, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not it at all\n")
    r = cli("doctor", "--passphrase-file", str(wrong), env={"X509_CERT_DIR": str(pki.trust)})
    assert r.returncode == Exit.CREDENTIAL and "[FAIL] key decrypts: wrong passphrase" in r.stdout
    # point userkey.pem at another user's key
    other = pki.user("Someone Else")
    (globus / "other-key.pem").write_bytes(other.key_pem("correct horse battery"))
    os.chmod(globus / "other-key.pem", 0o600)
    (globus / "userkey.pem").unlink()
    (globus / "userkey.pem").symlink_to("other-key.pem")
    r = cli("doctor", "--passphrase-file", str(pwfile), "--json", env={"X509_CERT_DIR": str(pki.trust)})
    assert r.returncode == Exit.CREDENTIAL
    import json

    checks = {c["title"]: c for c in json.loads(r.stdout)}
    assert checks["key matches certificate"]["status"] == "FAIL"


def test_x509_user_cert_env_wins(cli, globus, pki, tmp_path):
    """Grid tools read X509_USER_CERT/KEY first: doctor checks those files and says so."""
    elsewhere = tmp_path / "elsewhere.pem"
    r = cli("doctor", env={"X509_CERT_DIR": str(pki.trust), "X509_USER_CERT": str(elsewhere)})
    assert r.returncode == Exit.CREDENTIAL
    assert "[warn] X509_USER_CERT is set" in r.stdout
    assert f"[FAIL] certificate {elsewhere}: missing" in r.stdout
    r = cli(
        "doctor",
        "--dir",
        str(globus),
        env={"X509_CERT_DIR": str(pki.trust), "X509_USER_CERT": str(elsewhere)},
    )
    assert r.returncode == 0, r.stdout  # an explicit --dir is checked as given


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_writable_globus_directory_fails_and_convert_refuses_it(cli, globus, pki, jose, pwfile, mode):
    """Reproduced: a world-writable ~/.globus was used without a word, and doctor called every check OK."""
    os.chmod(globus, mode)
    r = cli("doctor", env={"X509_CERT_DIR": str(pki.trust)})
    assert r.returncode != 0
    line = next(x for x in r.stdout.splitlines() if f"directory {globus}" in x)
    assert "FAIL" in line and "group or others" in line, r.stdout
    assert f"chmod go-w {globus}" in r.stdout
    before = {p.name: p.read_bytes() for p in globus.iterdir()}
    other = pki.user("Ann Other")  # a new credential: convert would replace the files
    again = cli("convert", str(pki.p12(other, "other.p12")), "--passphrase-file", str(pwfile))
    assert again.returncode == Exit.UNSAFE_PATH, again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 2
    assert {p.name: p.read_bytes() for p in globus.iterdir()} == before


def test_symlinked_globus_directory_is_named(cli, globus, pki, tmp_path):
    elsewhere = tmp_path / "afs-globus"
    globus.rename(elsewhere)
    globus.symlink_to(elsewhere)
    r = cli("doctor", env={"X509_CERT_DIR": str(pki.trust)})
    line = next(x for x in r.stdout.splitlines() if f"directory {globus}" in x)
    assert f"a link to {elsewhere}" in line, r.stdout
