"""onboard.pki.trustdirs: which directory is in use, the strict lookup every server connection makes, and
finding a CA by its subject hash in a directory the real `openssl verify -CApath` reads the same way."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from onboard.adapters.https import TLSError
from onboard.errors import Exit
from onboard.pki import names, trustdirs
from tests.lib.pki import openssl_subject, selfsigned
from tests.lib.tools import require_tool

A = x509.NameAttribute


@pytest.fixture
def home(tmp_path) -> Path:
    (tmp_path / "home" / ".globus" / "certificates").mkdir(parents=True)
    return tmp_path / "home"


def test_the_order_grid_tools_use(tmp_path, home):
    env = {"HOME": str(home), "X509_CERT_DIR": str(tmp_path / "x509")}
    whys = [c.why for c in trustdirs.candidates(tmp_path / "conf", env)]
    assert whys == [
        "config trust.cert_dir",
        "X509_CERT_DIR",
        "~/.globus/certificates",
        "/etc/grid-security/certificates",
    ]
    # lenient: the first that exists (what `onboard trust` and the doctor report)
    assert trustdirs.find(tmp_path / "conf", env).why == "~/.globus/certificates"
    (tmp_path / "x509").mkdir()
    assert trustdirs.find(tmp_path / "conf", env).path == tmp_path / "x509"
    (tmp_path / "conf").mkdir()
    assert trustdirs.find(tmp_path / "conf", env).path == tmp_path / "conf"


@pytest.mark.parametrize("named", ["config", "X509_CERT_DIR"])
def test_a_directory_named_explicitly_that_is_missing_is_an_error(tmp_path, home, named):
    missing = tmp_path / "nope"
    env = {"HOME": str(home)}
    configured = None
    if named == "config":
        configured = missing
    else:
        env["X509_CERT_DIR"] = str(missing)
    assert trustdirs.find(configured, env).why == "~/.globus/certificates"  # lenient: falls through
    with pytest.raises(trustdirs.TrustError) as e:
        trustdirs.require(configured, env)
    assert str(missing) in e.value.message and "\n" not in e.value.message
    assert "does not exist" in e.value.message and "onboard trust" in e.value.hint
    assert e.value.exit_code == Exit.TRUST
    with pytest.raises(TLSError) as e:  # the same sentence, as the HTTPS client's error
        trustdirs.require(configured, env, error=TLSError)
    assert e.value.exit_code == Exit.TLS and str(missing) in e.value.message


def test_no_directory_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(trustdirs, "SYSTEM_DIR", tmp_path / "none")
    with pytest.raises(trustdirs.TrustError) as e:
        trustdirs.require(None, {"HOME": str(tmp_path)})
    assert "no grid trust directory found" in e.value.message
    assert trustdirs.find(None, {"HOME": str(tmp_path)}) is None
    assert trustdirs.require(None, {"HOME": str(tmp_path), "X509_CERT_DIR": str(tmp_path)}) == tmp_path


def test_https_uses_the_strict_lookup(tmp_path):
    from onboard.adapters.https import trust_dir
    from onboard.config import Config

    cfg = Config.model_validate({"trust": {"cert_dir": str(tmp_path / "nope")}})
    with pytest.raises(TLSError, match="nope .config trust.cert_dir. does not exist"):
        trust_dir(cfg, environ={"X509_CERT_DIR": str(tmp_path)})


CA_NAME = x509.Name(
    [
        A(NameOID.DOMAIN_COMPONENT, "org"),
        A(NameOID.ORGANIZATION_NAME, "Réseau/Grille"),
        A(NameOID.COMMON_NAME, "Autorité de Certification Ñ"),
    ]
)


def _hashed_dir(tmp_path: Path, cert: x509.Certificate) -> Path:
    from cryptography.hazmat.primitives.serialization import Encoding

    d = tmp_path / "certs"
    d.mkdir()
    (d / "ca.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (d / f"{names.subject_hash(cert.subject)}.0").symlink_to("ca.pem")
    return d


def test_find_ca_by_hash_from_any_slash_form(tmp_path):
    openssl = require_tool("openssl")
    cert = selfsigned(CA_NAME)
    d = _hashed_dir(tmp_path, cert)
    subject, digest = openssl_subject(openssl, cert)
    assert (d / f"{digest}.0").exists()  # the name openssl looks for
    for dn in (subject, names.readable(subject), subject.replace("\\/", "/"), subject.lower()):
        found = trustdirs.find_ca(d, dn)
        assert found is not None and found.path.name == f"{digest}.0", dn
        assert found.subject == subject
    assert trustdirs.find_ca(d, "/DC=org/CN=Someone Else") is None
    # openssl itself verifies against the directory through that hash link
    r = subprocess.run(
        [openssl, "verify", "-CApath", str(d), str(d / "ca.pem")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert trustdirs.count_cas(d) == 1


def test_find_ca_without_hash_links(tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = selfsigned(CA_NAME)
    (tmp_path / "only.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    assert trustdirs.find_ca(tmp_path, names.oneline(cert.subject)).path.name == "only.pem"


def test_find_issuer_checks_the_signature(tmp_path):
    cert = selfsigned(CA_NAME)
    d = _hashed_dir(tmp_path, cert)
    assert trustdirs.find_issuer(cert, d) == cert
    other = tmp_path / "other"
    other.mkdir()
    assert trustdirs.find_issuer(cert, other) is None


def test_require_ca_says_how_to_get_it(tmp_path):
    cert = selfsigned(CA_NAME)
    d = _hashed_dir(tmp_path, cert)
    assert trustdirs.require_ca(d, names.oneline(cert.subject)).path.parent == d
    with pytest.raises(trustdirs.TrustError) as e:
        trustdirs.require_ca(d, "/DC=ch/DC=cern/CN=CERN Grid Certification Authority")
    assert "is not in the trust directory" in e.value.message and "onboard trust" in e.value.hint
