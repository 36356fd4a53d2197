"""`onboard convert` as a user runs it, on PKCS#12 files made by the real `openssl pkcs12 -export`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.lib.files import snapshot
from tests.lib.pki import PASSPHRASE
from tests.lib.tools import require_tool

NAME = None  # filled per test from the certificate's notBefore


def dated(cert, cn_part: str) -> str:
    nb = cert.not_valid_before_utc
    return f"{cn_part}_issued_{nb.day}_{nb.strftime('%b')}_{nb.year}"


def openssl_subject(pem: bytes) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-nameopt", "compat"],
        input=pem,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return out.strip().removeprefix("subject=")


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-rc2", "modern-aes"])
def test_convert_writes_every_file_with_the_right_modes(cli, pki, jose, pwfile, tmp_path, legacy):
    require_tool("openssl")
    p12 = pki.p12(jose, f"Certificate-{legacy}.p12", legacy=legacy, friendly="José's key")
    home = Path(os.environ["HOME"])
    r = cli("convert", str(p12), "--passphrase-file", str(pwfile), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    dest = home / ".globus"
    n = dated(jose.cert, "Jose_Perez")
    assert summary["name"] == n
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700  # onboard created it
    modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in dest.iterdir() if not p.is_symlink()}
    assert modes == {
        f"cert-{n}.pem": 0o644,
        f"chain-{n}.pem": 0o644,
        f"key-{n}.pem": 0o600,
        f"package-{n}.p12": 0o600,
    }
    assert os.readlink(dest / "usercert.pem") == f"cert-{n}.pem"  # relative links
    assert os.readlink(dest / "userkey.pem") == f"key-{n}.pem"
    # cert: the end-entity only; chain: the two intermediates, nearest first, no root
    assert x509.load_pem_x509_certificates((dest / f"cert-{n}.pem").read_bytes()) == [jose.cert]
    assert x509.load_pem_x509_certificates((dest / f"chain-{n}.pem").read_bytes()) == [
        pki.int2.cert,
        pki.int1.cert,
    ]
    # key: encrypted PKCS#8 with AES-256, same passphrase as the p12, and the right key
    key_pem = (dest / f"key-{n}.pem").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    asn1 = subprocess.run(
        ["openssl", "asn1parse", "-in", str(dest / f"key-{n}.pem")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "aes-256-cbc" in asn1 and "PBES2" in asn1
    key = serialization.load_pem_private_key(key_pem, PASSPHRASE.encode())
    assert key.private_numbers() == jose.key.private_numbers()
    # package: friendly name "<CN> issued <D Mon YYYY>", 3DES + SHA-1 MAC, end-entity + intermediates
    pkg = pkcs12.load_pkcs12((dest / f"package-{n}.p12").read_bytes(), PASSPHRASE.encode())
    nb = jose.cert.not_valid_before_utc
    assert pkg.cert.friendly_name.decode() == f"José Pérez issued {nb.day} {nb.strftime('%b')} {nb.year}"
    assert [c.certificate for c in pkg.additional_certs] == [pki.int2.cert, pki.int1.cert]
    # the summary's DN is what openssl prints (and VOMS stores), escapes included
    assert (
        summary["subject"]
        == openssl_subject(jose.pem())
        == "/DC=org/DC=onboard-test/O=Test Users/CN=Jos\\xC3\\xA9 P\\xC3\\xA9rez"
    )


def test_package_read_by_openssl_without_legacy(cli, pki, jose, pwfile):
    require_tool("openssl")
    p12 = pki.p12(jose, "Certificate.p12", legacy=True)
    r = cli("convert", str(p12), "--passphrase-file", str(pwfile), "--name-format", "plain")
    assert r.returncode == 0, r.stderr
    pkg = Path(os.environ["HOME"]) / ".globus" / "package-Certificate.p12"
    info = subprocess.run(
        ["openssl", "pkcs12", "-info", "-in", str(pkg), "-passin", f"file:{pwfile}", "-noout"],
        capture_output=True,
        text=True,
    )
    assert info.returncode == 0, info.stderr
    assert "MAC: sha1" in info.stderr + info.stdout
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info.stderr + info.stdout
    assert "RC2" not in info.stderr + info.stdout
    # the original needs -legacy in this openssl: what onboard spared the user
    orig = subprocess.run(
        ["openssl", "pkcs12", "-info", "-in", str(p12), "-passin", f"file:{pwfile}", "-noout"],
        capture_output=True,
        text=True,
    )
    assert orig.returncode != 0


def test_package_imported_by_nss_pk12util(cli, pki, jose, pwfile, tmp_path):
    require_tool("pk12util")
    require_tool("certutil")
    p12 = pki.p12(jose, "Certificate.p12", legacy=True)
    assert cli("convert", str(p12), "--passphrase-file", str(pwfile)).returncode == 0
    pkg = next((Path(os.environ["HOME"]) / ".globus").glob("package-*.p12"))
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    imp = subprocess.run(
        ["pk12util", "-i", str(pkg), "-d", f"sql:{db}", "-w", str(pwfile)], capture_output=True, text=True
    )
    assert imp.returncode == 0, imp.stdout + imp.stderr
    assert "PKCS12 IMPORT SUCCESSFUL" in imp.stdout + imp.stderr
    listing = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{db}"], capture_output=True, text=True, check=True
    ).stdout
    assert "José Pérez issued" in listing
    keys = subprocess.run(["certutil", "-K", "-d", f"sql:{db}"], capture_output=True, text=True).stdout
    assert "José Pérez issued" in keys  # the private key came along


def test_second_run_changes_nothing(cli, pki, jose, pwfile):
    p12 = pki.p12(jose, "again.p12")
    assert cli("convert", str(p12), "--passphrase-file", str(pwfile)).returncode == 0
    dest = Path(os.environ["HOME"]) / ".globus"
    before = snapshot(dest)
    r = cli("convert", str(p12), "--passphrase-file", str(pwfile))
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stdout
    assert snapshot(dest) == before


def test_renewal_with_same_cn_keeps_both_keys(cli, pki, pwfile):
    """Two certificates with the same CN, one after the other: the first key survives (as a backup)."""
    first, second = pki.user("Jane Doe"), pki.user("Jane Doe")
    dest = Path(os.environ["HOME"]) / ".globus"
    for i, user in enumerate((first, second)):
        r = cli(
            "convert",
            str(pki.p12(user, f"renew{i}.p12")),
            "--passphrase-file",
            str(pwfile),
            "--name-format",
            "cn",
        )
        assert r.returncode == 0, r.stderr
    keys = {}
    for p in dest.iterdir():
        if "key-Jane_Doe.pem" in p.name and not p.is_symlink():
            k = serialization.load_pem_private_key(p.read_bytes(), PASSPHRASE.encode())
            keys[p.name] = k.private_numbers()
    assert set(keys.values()) == {first.key.private_numbers(), second.key.private_numbers()}
    backups = sorted(p.name for p in dest.iterdir() if p.name.startswith("backup."))
    assert any(b.endswith(".key-Jane_Doe.pem") for b in backups)
    assert any(b.endswith(".cert-Jane_Doe.pem") for b in backups)
    assert any(b.endswith(".userkey.pem") for b in backups)  # the old link itself was kept
    assert all(b.split(".")[1].replace("-", "").isdigit() and len(b.split(".")[1]) == 15 for b in backups)
    # the live link points at the new key
    live = serialization.load_pem_private_key((dest / "userkey.pem").read_bytes(), PASSPHRASE.encode())
    assert live.private_numbers() == second.key.private_numbers()


def test_renewal_without_intermediates_retires_the_old_chain(cli, pki, pwfile, tmp_path):
    """A PKCS#12 without intermediates replacing one with: the old chain file is not left as if it were
    the new certificate's; it goes to a backup with the old certificate."""
    dest = tmp_path / "creds"
    first, second = pki.user("Jane Doe"), pki.user("Jane Doe")
    for user, chain in ((first, True), (second, False)):
        p12 = pki.p12(user, f"chain-{chain}.p12", chain=chain)
        r = cli("convert", str(p12), "--passphrase-file", str(pwfile), "--dest", str(dest),
                "--name-format", "cn")
        assert r.returncode == 0, r.stderr
    assert not (dest / "chain-Jane_Doe.pem").exists()
    assert x509.load_pem_x509_certificate((dest / "cert-Jane_Doe.pem").read_bytes()) == second.cert
    old = [p for p in dest.iterdir()
           if p.name.startswith("backup.") and p.name.endswith(".chain-Jane_Doe.pem")]
    assert len(old) == 1
    assert x509.load_pem_x509_certificates(old[0].read_bytes()) == [pki.int2.cert, pki.int1.cert]


def test_renewal_dated_names_do_not_collide(cli, pki, pwfile):
    import datetime as dt

    from tests.lib.pki import NOW

    first = pki.user("Jane Doe", not_before=NOW - dt.timedelta(days=300))
    second = pki.user("Jane Doe", not_before=NOW - dt.timedelta(days=2))
    for i, user in enumerate((first, second)):
        assert (
            cli("convert", str(pki.p12(user, f"dated{i}.p12")), "--passphrase-file", str(pwfile)).returncode
            == 0
        )
    dest = Path(os.environ["HOME"]) / ".globus"
    assert (dest / f"key-{dated(first.cert, 'Jane_Doe')}.pem").is_file()
    assert (dest / f"key-{dated(second.cert, 'Jane_Doe')}.pem").is_file()


def test_csr_and_no_links_and_dest(cli, pki, jose, pwfile, tmp_path):
    dest = tmp_path / "creds"
    r = cli(
        "convert",
        str(pki.p12(jose, "x.p12", chain=False)),
        "--passphrase-file",
        str(pwfile),
        "--csr",
        "--no-links",
        "--dest",
        str(dest),
        "--name-format",
        "cn",
    )
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in dest.iterdir())
    assert names == [
        "cert-Jose_Perez.pem",
        "key-Jose_Perez.pem",
        "package-Jose_Perez.p12",
        "request-Jose_Perez.pem",
    ]
    csr = x509.load_pem_x509_csr((dest / "request-Jose_Perez.pem").read_bytes())
    assert csr.is_signature_valid and csr.subject == jose.cert.subject
    assert (
        csr.public_key().public_numbers() == jose.key.public_key().public_numbers()
    )  # same key, for renewal


def test_passphrase_from_stdin(cli, pki, jose):
    r = cli("convert", str(pki.p12(jose, "stdin.p12")), "--passphrase-stdin", input=PASSPHRASE + "\n")
    assert r.returncode == 0, r.stderr


def test_pem_pair_input(cli, pki, jose, pwfile, tmp_path):
    (tmp_path / "c.pem").write_bytes(jose.pem() + pki.int2.pem() + pki.int1.pem())
    (tmp_path / "k.pem").write_bytes(jose.key_pem(PASSPHRASE))
    r = cli(
        "convert",
        "--cert",
        str(tmp_path / "c.pem"),
        "--key",
        str(tmp_path / "k.pem"),
        "--passphrase-file",
        str(pwfile),
        "--name-format",
        "cn",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    dest = Path(os.environ["HOME"]) / ".globus"
    assert x509.load_pem_x509_certificates((dest / "chain-Jose_Perez.pem").read_bytes()) == [
        pki.int2.cert,
        pki.int1.cert,
    ]


def test_keygen_then_convert_issued_cert(cli, pki, pwfile, tmp_path):
    """keygen: key kept encrypted in the data dir + CSR; the CA (openssl) signs; convert --cert pairs."""
    require_tool("openssl")
    r = cli(
        "keygen",
        "--subject",
        "/DC=org/DC=onboard-test/O=Test Users/CN=Kim Lee",
        "--passphrase-file",
        str(pwfile),
        "--dest",
        str(tmp_path / "req"),
    )
    assert r.returncode == 0, r.stderr
    data = Path(os.environ["ONBOARD_DATA_DIR"]) / "keys"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    key_file = next(data.glob("key-*.pem"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = serialization.load_pem_private_key(key_file.read_bytes(), PASSPHRASE.encode())
    assert key.key_size == 3072
    csr_path = tmp_path / "req" / "request-Kim_Lee.pem"
    assert csr_path.read_bytes() in r.stdout.encode()
    # the CA signs it with the real openssl
    ca = tmp_path / "ca"
    ca.mkdir()
    (ca / "ca.pem").write_bytes(pki.int2.pem())
    (ca / "ca.key").write_bytes(pki.int2.key_pem(PASSPHRASE))  # no clear key on disk, even in tests
    (ca / "ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr_path),
            "-CA",
            str(ca / "ca.pem"),
            "-CAkey",
            str(ca / "ca.key"),
            "-passin",
            f"file:{pwfile}",
            "-days",
            "30",
            "-set_serial",
            "4242",
            "-extfile",
            str(ca / "ext"),
            "-out",
            str(tmp_path / "issued.pem"),
        ],
        check=True,
        capture_output=True,
    )
    r = cli("convert", "--cert", str(tmp_path / "issued.pem"), "--passphrase-file", str(pwfile), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["serial"] == "1092" and out["subject"].endswith("/CN=Kim Lee")
    dest = Path(os.environ["HOME"]) / ".globus"
    converted = serialization.load_pem_private_key((dest / "userkey.pem").read_bytes(), PASSPHRASE.encode())
    assert converted.private_numbers() == key.private_numbers()


def test_keygen_ec(cli, pwfile):
    r = cli("keygen", "--subject", "CN=Kim Lee,DC=example,DC=org", "--ec", "--passphrase-file", str(pwfile))
    assert r.returncode == 0, r.stderr
    csr = x509.load_pem_x509_csr(r.stdout[r.stdout.index("-----BEGIN") :].encode())
    assert csr.public_key().curve.name == "secp256r1"


def test_keygen_refuses_short_passphrase(cli, tmp_path):
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    r = cli("keygen", "--subject", "/CN=x", "--passphrase-file", str(short))
    assert r.returncode == 2 and "at least 12" in r.stderr
    assert not (Path(os.environ["ONBOARD_DATA_DIR"]) / "keys").exists() or not list(
        (Path(os.environ["ONBOARD_DATA_DIR"]) / "keys").iterdir()
    )


def test_new_passphrase_asked_twice_on_a_terminal(onboard_env, pki, jose, pwfile):
    """--new-passphrase: typed twice on a terminal (a pty here); the key then opens only with the new one."""
    import pty
    import select
    import sys
    import time

    new = "a brand new passphrase"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onboard",
            "convert",
            str(pki.p12(jose, "np.p12")),
            "--passphrase-file",
            str(pwfile),
            "--new-passphrase",
            "--name-format",
            "cn",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, **onboard_env},
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    answers = [new, new]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if answers and out.count(b": ") > 2 - len(answers) and out.rstrip().endswith(b":"):
                os.write(master, (answers.pop(0) + "\n").encode())
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == 0, out.decode(errors="replace")
    assert new.encode() not in out  # no echo
    key = (Path(onboard_env["HOME"]) / ".globus" / "key-Jose_Perez.pem").read_bytes()
    assert (
        serialization.load_pem_private_key(key, new.encode()).private_numbers() == jose.key.private_numbers()
    )
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(key, PASSPHRASE.encode())
