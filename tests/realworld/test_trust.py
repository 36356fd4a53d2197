"""Trust anchors: OpenSSL's subject hash computed in Python, the directory in use, and a checked install
from a tarball that the real `openssl verify -CApath` then uses."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from onboard.config import Config
from onboard.errors import Exit
from onboard.pki import bundle, names, trustdirs
from onboard.pki import tarball as tarball_limits
from tests.lib.pki import issue, name, pem
from tests.lib.tarballs import bomb, write_bundle
from tests.lib.tools import require_tool

NAMES = [
    name(("DC", "ch"), ("DC", "cern"), ("CN", "CERN Grid Certification Authority")),
    name(("C", "NL"), ("O", "GEANT Vereniging"), ("CN", "GEANT eScience Personal CA 4")),
    name(("DC", "org"), ("DC", "terena"), ("DC", "tcs"), ("C", "IT"), ("L", "Roma"),
         ("O", "Istituto Nazionale di Fisica Nucleare"), ("CN", "voms2.cnaf.infn.it")),
    name(("C", "DE"), ("O", "  Mixed   CASE  Ünïcode "), ("CN", "Zürich  Root\tCA")),
]


@pytest.mark.parametrize("subject", NAMES, ids=lambda n: n.rfc4514_string()[:30])
def test_subject_hash_is_openssls(subject, tmp_path):
    openssl = require_tool("openssl")
    cert = issue(subject, ca=True).cert
    f = tmp_path / "c.pem"
    f.write_bytes(pem(cert))
    want = subprocess.run([openssl, "x509", "-noout", "-subject_hash", "-in", str(f)], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert names.subject_hash(cert.subject) == want
    # also from the slash DN alone (as an LSC or the catalog gives it)
    assert names.subject_hash(names.name_from_oneline(names.oneline(cert.subject))) == want


def test_dn_comparison_is_openssl_canonical():
    assert names.dn_key("/DC=ch/DC=cern/CN=CERN  Grid Certification Authority") == \
        names.dn_key("/dc=CH/dc=CERN/cn=cern grid certification authority ")
    assert names.dn_key("/C=IT/emailAddress=a@b") == names.dn_key("/C=IT/Email=a@b")
    assert names.dn_key("/DC=ch/CN=x") != names.dn_key("/DC=ch/CN=y")


def test_candidates_and_dir_in_use(tmp_path):
    home = tmp_path / "home"
    (home / ".globus" / "certificates").mkdir(parents=True)
    env = {"HOME": str(home)}
    got = trustdirs.find(None, env)
    assert got.path == home / ".globus" / "certificates" and got.why == "~/.globus/certificates"
    xdir = tmp_path / "x509"
    xdir.mkdir()
    assert trustdirs.find(None, {**env, "X509_CERT_DIR": str(xdir)}).path == xdir
    cfg = Config.model_validate({"trust": {"cert_dir": str(tmp_path)}})
    got = trustdirs.find(cfg.trust.cert_dir, {**env, "X509_CERT_DIR": str(xdir)})
    assert got.why == "config trust.cert_dir"
    assert bundle.install_target(None, env) == home / ".globus" / "certificates"


def _bundle(tmp_path: Path, members: dict[str, bytes], links: dict[str, str] | None = None,
            top: str = "certificates") -> Path:
    return write_bundle(tmp_path / "bundle.tar.gz", members, links, top)


@pytest.fixture
def pki():
    root = issue(name(("DC", "org"), ("DC", "example"), ("CN", "Example Root CA")), ca=True)
    sub = issue(name(("DC", "org"), ("DC", "example"), ("CN", "Example Personal CA")), root, ca=True)
    user = issue(name(("DC", "org"), ("DC", "example"), ("CN", "Jane Doe")), sub)
    return root.cert, sub.cert, user.cert, root.key


def test_install_checked_bundle_then_openssl_verifies(pki, tmp_path):
    openssl = require_tool("openssl")
    root, sub, user, _ = pki
    h = names.subject_hash(root.subject)
    tarball = _bundle(tmp_path, {
        "ExampleRoot.pem": pem(root), f"{h}.signing_policy": b"access_id_CA X509 "
                                                             b"'/DC=org/DC=example/CN=Example Root CA'\n",
        f"{h}.namespaces": b"TO Issuer \"/DC=org/DC=example/CN=Example Root CA\" PERMIT Subject "
                           b"\"/DC=org/DC=example/*\"\n",
        "ExamplePersonal.pem": pem(sub), "ExamplePersonal.info": b"alias = ExamplePersonal\n",
        "README.txt": b"not a trust anchor",
    }, {f"{h}.0": "ExampleRoot.pem"})
    dest = tmp_path / "home" / ".globus" / "certificates"
    dest.mkdir(parents=True)
    (dest / "old.pem").write_text("kept in the backup")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    done = bundle.install(tarball, dest, sha256=sha)
    assert done.cas == 2 and done.backup is not None
    assert (done.backup / "old.pem").read_text() == "kept in the backup"  # nothing lost
    assert (dest / f"{h}.0").is_symlink()
    assert (dest / f"{names.subject_hash(sub.subject)}.0").exists()  # hash link added for the .pem-only CA
    assert not (dest / "README.txt").exists() and done.skipped
    assert oct(dest.stat().st_mode & 0o777) == "0o755"
    # the real consumer: openssl finds the chain through the hash links
    (tmp_path / "user.pem").write_bytes(pem(user))
    r = subprocess.run([openssl, "verify", "-CApath", str(dest), str(tmp_path / "user.pem")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    assert trustdirs.find_ca(dest, "/DC=org/DC=example/CN=Example Personal CA") is not None
    assert trustdirs.find_ca(dest, "/DC=org/DC=example/CN=Nobody") is None


@pytest.mark.parametrize("case", ["traversal", "not-ca", "wrong-hash", "sha", "dangling-link", "no-ca",
                                  "device", "absolute-link", "link-loop", "file-and-link", "member-too-big"])
def test_bad_bundles_are_refused_and_nothing_changes(pki, tmp_path, case):
    root, sub, user, _ = pki
    h = names.subject_hash(root.subject)
    members, links, sha = {"root.pem": pem(root)}, {}, None
    if case == "traversal":
        members["../../evil.pem"] = pem(root)
    elif case == "not-ca":
        members["user.pem"] = pem(user)
    elif case == "wrong-hash":
        members["deadbeef.0"] = pem(root)
    elif case == "sha":
        sha = "0" * 64
    elif case == "dangling-link":
        links[f"{h}.0"] = "missing.pem"
    elif case == "no-ca":
        members = {"x.signing_policy": b"x"}
    elif case == "absolute-link":
        links[f"{h}.0"] = "/etc/passwd"
    elif case == "link-loop":  # reproduced: KeyError (an internal error)
        links.update({"a.pem": "b.pem", "b.pem": "a.pem"})
    elif case == "file-and-link":  # reproduced: FileExistsError, and a new ~/.globus left at 0755
        links["root.pem"] = f"{h}.0"
        members[f"{h}.0"] = pem(root)
    elif case == "member-too-big":
        members["huge.crl"] = b"\0" * (tarball_limits.MAX_MEMBER + 1)
    tarball = _bundle(tmp_path, members, links)
    if case == "device":
        with tarfile.open(tarball, "w:gz") as tf:
            ti = tarfile.TarInfo("certificates/abcdef01.0")
            ti.type = tarfile.CHRTYPE
            tf.addfile(ti)
    dest = tmp_path / "certs"
    dest.mkdir()
    (dest / "keep.pem").write_text("x")
    with pytest.raises(trustdirs.TrustError) as e:
        bundle.install(tarball, dest, sha256=sha)
    assert e.value.exit_code == Exit.TRUST and "nothing was installed" in e.value.message
    assert sorted(os.listdir(dest)) == ["keep.pem"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.tar.gz", "certs"]  # no temp dir left
    fresh = tmp_path / "home" / ".globus" / "certificates"  # into a ~/.globus that does not exist yet
    with pytest.raises(trustdirs.TrustError):
        bundle.install(tarball, fresh, sha256=sha)
    assert not (tmp_path / "home" / ".globus").exists()


def test_decompression_bomb_is_refused_within_bounded_memory(cli, onboard_env, tmp_path):
    """Reproduced: a 14 MB .tgz holding one 3 GiB member made `onboard trust --install` peak at 3.2 GB."""
    tarball = bomb(tmp_path / "bomb.tgz", 3 << 30, level=1)
    assert tarball.stat().st_size < 16 << 20
    home = Path(onboard_env["HOME"])
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stderr.write(r.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "onboard", "trust", "--install",
                        str(tarball)], capture_output=True, text=True, env={**os.environ, **onboard_env,
                                                                            "X509_CERT_DIR": ""})
    status, peak_kib = (int(x) for x in r.stdout.split())
    assert status == Exit.TRUST, r.stderr
    assert "inflates to more than" in r.stderr and "Traceback" not in r.stderr
    assert peak_kib < 300 * 1024, f"peak {peak_kib >> 10} MiB"
    assert not (home / ".globus").exists()


def test_cli_trust_check_and_install(pki, tmp_path, cli, onboard_env):
    root, sub, user, _ = pki
    tarball = _bundle(tmp_path, {"root.pem": pem(root), "sub.pem": pem(sub)}, top="")
    r = cli("trust", "--check", "/DC=org/DC=example/CN=Example Personal CA", env={"X509_CERT_DIR": ""})
    assert r.returncode == Exit.TRUST  # nothing installed yet: says how to get the IGTF bundle
    assert "ca-policy-egi-core" in r.stdout or "igtf-preinstalled-bundle" in r.stdout
    r = cli("trust", "--install", str(tarball), env={"X509_CERT_DIR": ""})
    assert r.returncode == 0, r.stderr
    installed = Path(onboard_env["HOME"]) / ".globus" / "certificates"
    assert "Installed 2 CA certificate(s)" in r.stdout and str(installed) in r.stdout
    (tmp_path / "user.pem").write_bytes(pem(user))
    r = cli("trust", "--check", str(tmp_path / "user.pem"), env={"X509_CERT_DIR": ""})
    assert r.returncode == 0 and "✓ /DC=org/DC=example/CN=Example Personal CA" in r.stdout
    r = cli("trust", "--vo", "cms", env={"X509_CERT_DIR": ""})
    assert r.returncode == Exit.TRUST and "CERN Grid Certification Authority" in r.stdout


def test_require_ca(pki, tmp_path, monkeypatch):
    root, *_ = pki
    d = tmp_path / "certs"
    d.mkdir()
    (d / f"{names.subject_hash(root.subject)}.0").write_bytes(pem(root))
    cfg = Config.model_validate({"trust": {"cert_dir": str(d)}})
    found = trustdirs.require_ca(cfg.trust.cert_dir, "/DC=org/DC=example/CN=Example Root CA")
    assert found.path.name.endswith(".0")
    with pytest.raises(trustdirs.TrustError) as e:
        trustdirs.require_ca(cfg.trust.cert_dir, "/DC=ch/DC=cern/CN=CERN Grid Certification Authority")
    assert "not in the trust directory" in e.value.message and "onboard trust" in e.value.hint


def test_how_to_get_per_platform():
    assert any("apt-get install ca-policy-egi-core" in x for x in bundle.how_to_get("debian"))
    assert any("dnf install ca-policy-egi-core" in x for x in bundle.how_to_get("redhat"))
    assert any("onboard trust --install" in x for x in bundle.how_to_get("macos"))
