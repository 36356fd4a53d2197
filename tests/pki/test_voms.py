"""The slash form against the real grid middleware: a trainee whose name has letters outside ASCII and a
'/' in a value still reaches an FQAN. voms-server (Debian's, on OpenSSL 3) looks the user up in its MariaDB
by X509_NAME_oneline of the certificate: a member stored in onboard's form gets an AC; stored in an older
form (letters unescaped, '/' unescaped) the same certificate is "unknown to this VO". grid-proxy-init and
voms-proxy-info --identity print the same form."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from onboard.pki import names
from tests.lib.pki import CA
from tests.lib.tools import require_tool

pytestmark = [pytest.mark.slow, pytest.mark.servers]

A = x509.NameAttribute
BASE = [A(NameOID.DOMAIN_COMPONENT, "org"), A(NameOID.DOMAIN_COMPONENT, "onboard-test")]


def _subject(cn: str) -> x509.Name:
    return x509.Name([*BASE, A(NameOID.ORGANIZATION_NAME, "Grid/Lab"), A(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def grid():
    for tool in ("mariadbd", "voms", "voms-proxy-init", "voms-proxy-info", "grid-proxy-init"):
        require_tool(tool)
    from tests.lib.servers.voms import MariaDB, VOMSServer

    work = Path(tempfile.mkdtemp(prefix="onboard-pki-voms-", dir="/var/tmp"))
    ca = CA()
    trust = ca.trust_dir(work / "certificates")
    host = ca.host("localhost")
    (work / "hostcert.pem").write_bytes(host.pem())
    fd = os.open(work / "hostkey.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(host.key_pem())
    db = MariaDB(work / "db").start()
    server = None
    try:
        server = VOMSServer(
            "testvo", db, work / "voms", work / "hostcert.pem", work / "hostkey.pem", host.dn, ca.dn, trust
        ).start()
        (work / "vomses").write_text(server.vomses_line + "\n")
        lsc = work / "vomsdir" / "testvo" / "localhost.lsc"
        lsc.parent.mkdir(parents=True)
        lsc.write_text("\n".join(server.lsc["localhost"]) + "\n")
        yield {"ca": ca, "server": server, "work": work, "trust": trust}
    finally:
        if server is not None:
            server.stop()
        db.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _files(grid, cn: str) -> tuple[x509.Certificate, Path, Path]:
    user = grid["ca"].issue(_subject(cn))
    cert, key = grid["work"] / f"{cn}.pem", grid["work"] / f"{cn}.key"
    cert.write_bytes(user.pem())
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(user.key_pem())
    return user.cert, cert, key


def _run(grid, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "X509_CERT_DIR": str(grid["trust"]), "X509_VOMS_DIR": str(grid["work"] / "vomsdir")}
    return subprocess.run(
        argv, capture_output=True, text=True, errors="replace", env=env, timeout=120, stdin=subprocess.DEVNULL
    )


def _voms_proxy(grid, cert: Path, key: Path) -> tuple[subprocess.CompletedProcess, Path]:
    proxy = cert.with_suffix(".proxy")
    r = _run(
        grid,
        "voms-proxy-init",
        "-voms",
        "testvo",
        "-vomses",
        str(grid["work"] / "vomses"),
        "-cert",
        str(cert),
        "-key",
        str(key),
        "-out",
        str(proxy),
    )
    return r, proxy


def test_a_trainee_with_letters_outside_ascii_reaches_an_fqan(grid):
    subject, cert, key = _files(grid, "José Ñúñez")
    dn = names.oneline(subject.subject)
    assert dn == "/DC=org/DC=onboard-test/O=Grid\\/Lab/CN=Jos\\xC3\\xA9 \\xC3\\x91\\xC3\\xBA\\xC3\\xB1ez"
    grid["server"].add_member(dn, names.oneline(grid["ca"].cert.subject))  # what the on-approval hook does
    r, proxy = _voms_proxy(grid, cert, key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Your identity: {dn}" in r.stdout
    fqan = _run(grid, "voms-proxy-info", "-fqan", "-file", str(proxy))
    assert fqan.stdout.split() == ["/testvo/Role=NULL/Capability=NULL"]
    identity = _run(grid, "voms-proxy-info", "--identity", "-file", str(proxy))
    assert identity.stdout.strip() == dn


def test_the_same_string_from_every_side_of_onboard(grid):
    """The registration step (what it asks VOMS-Admin about), the sandbox's VOMS-Admin (what its hook
    stores) and the grid tools see one string."""
    from onboard.registration.identity import read_identity
    from onboard.sandbox.dn import identity_from_der

    subject, cert, key = _files(grid, "Zoë Ångström")
    dn = names.oneline(subject.subject)
    assert read_identity(cert).subject == dn
    assert read_identity(cert).issuer == names.oneline(grid["ca"].cert.subject) == grid["ca"].dn
    from cryptography.hazmat.primitives.serialization import Encoding

    assert identity_from_der(subject.public_bytes(Encoding.DER), {}).dn == dn
    proxy = cert.with_suffix(".gproxy")
    r = _run(grid, "grid-proxy-init", "-cert", str(cert), "-key", str(key), "-out", str(proxy))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"Your identity: {dn}" in r.stdout
    assert _run(grid, "voms-proxy-info", "--identity", "-file", str(proxy)).stdout.strip() == dn


@pytest.mark.parametrize("form", ["letters", "hex-without-slash-escape"])
def test_a_member_stored_in_an_older_form_is_unknown(grid, form):
    """Why there is one form: the same person stored as OpenSSL 1.x or a UTF-8 renderer wrote it."""
    subject, cert, key = _files(grid, f"Renée {form}")
    dn = names.oneline(subject.subject)
    older = names.readable(dn) if form == "letters" else dn
    older = older.replace("\\/", "/")
    assert names.dn_key(older) == names.dn_key(dn)  # onboard knows it is the same name...
    grid["server"].add_member(older, grid["ca"].dn)
    r, _ = _voms_proxy(grid, cert, key)
    assert r.returncode != 0  # ...voms-server does not
    assert "User unknown to this VO" in r.stdout + r.stderr
