"""`onboard renew` through the sandbox with the real voms-server and OpenSSH sshd as the submit host:

(a) the same subject from the same CA: nothing to ask the VO; the new certificate delivered, and
    voms-proxy-init gets the FQAN with it;
(b) the same subject from a second CA ("the new TCS") and (c) a new (transliterated) subject from it: the
    VO learns the new certificate through VOMS-Admin's certificate request, sent with the old one and
    approved by the administrator; still one member; the real voms-server then issues the FQAN for the new
    certificate; the old credential survives as a backup, locally and on the host.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from onboard.errors import Exit
from onboard.pki.names import oneline

from .conftest import PASSPHRASE, VO

pytestmark = [pytest.mark.slow, pytest.mark.servers]
FQAN = f"/{VO}/Role=NULL/Capability=NULL"


def _sha(path: Path) -> str:
    der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def _certs_in(directory: Path) -> dict[str, str]:
    """name -> sha256 (DER) of every PEM certificate file in `directory` (links followed)."""
    out = {}
    for p in directory.iterdir():
        if p.is_file() and "cert" in p.name and p.suffix == ".pem":
            try:
                out[p.name] = _sha(p)
            except ValueError:
                continue
    return out


def _old_survives(w, first: dict) -> None:
    old = first["artifacts"]["certificate"]["sha256"].replace(":", "").lower()
    local = Path(first["artifacts"]["cert"]).parent
    assert old in _certs_in(local).values(), "the old certificate is gone from ~/.globus"
    host = _certs_in(w.sshd.home / ".globus")
    assert host["usercert.pem"] != old
    assert [n for n, s in host.items() if s == old and n.startswith("backup.")], host


def _renewed(w, first: dict, *, asks: bool) -> dict:
    members = w.members()
    r = w.run("renew", "--trust-host-key", w.sshd.fingerprint)
    if asks:
        assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
        assert "certificate request" in r.stdout + r.stderr
        from onboard.sandbox.voms_admin import cert_requests

        (req,) = cert_requests.pending(w.sb.ctx, VO)
        assert req["status"] == "SUBMITTED"
        assert req["member_subject"] == first["artifacts"]["certificate"]["subject_dn"]
        # a second run while it waits sends nothing again
        r = w.run("renew")
        assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
        assert len(cert_requests.pending(w.sb.ctx, VO)) == 1
        cert_requests.approve(w.sb.ctx, req["request_id"])
        r = w.run("renew", "--wait", "--timeout", "60")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert FQAN in r.stdout
    status = w.status()
    assert status["state"] == "done" and status["workflow"].startswith("renew-")
    assert status["artifacts"]["fqans"] == [FQAN]
    assert w.members() == members, "a second membership"
    history = w.cli("history", "--vo", VO).stdout
    assert "renew" in history and "verified" in history
    # the host holds the new certificate, and voms-proxy-init used it
    new = status["artifacts"]["certificate"]
    host_cert = x509.load_pem_x509_certificate((w.sshd.home / ".globus" / "usercert.pem").read_bytes())
    assert (oneline(host_cert.subject), oneline(host_cert.issuer)) == (new["subject_dn"], new["issuer_dn"])
    assert new["sha256"] != first["artifacts"]["certificate"]["sha256"]
    _old_survives(w, first)
    for path in (w.tmp / "state").iterdir():
        assert PASSPHRASE not in path.read_text(errors="replace")
    return status


def test_a_same_subject_same_ca_needs_nothing_from_the_vo(world):
    first = world.first_year()
    status = _renewed(world, first, asks=False)
    assert status["artifacts"]["certificate"]["subject_dn"] == first["artifacts"]["certificate"]["subject_dn"]
    assert status["artifacts"]["extra"]["renewal"]["vo_change"] == "none"
    from onboard.sandbox.voms_admin import cert_requests

    assert cert_requests.pending(world.sb.ctx, VO) == []


@pytest.mark.parametrize("transliterate", [False, True], ids=["same-subject-new-ca", "new-subject-new-ca"])
def test_b_c_a_new_ca_is_told_through_the_certificate_request(world, transliterate):
    from onboard.sandbox import ca_switch

    first = world.first_year()
    ca_switch.switch(world.sb.ca, transliterate_names=transliterate)
    world.copy_trust()
    status = _renewed(world, first, asks=True)
    new, old = status["artifacts"]["certificate"], first["artifacts"]["certificate"]
    assert new["issuer_dn"] != old["issuer_dn"]
    assert (new["subject_dn"] != old["subject_dn"]) == transliterate
    if transliterate:
        assert new["subject_dn"].endswith("CN=Juergen Mueller")
    # VOMS-Admin: one member holding both certificates; the voms-server knows the new one
    (uid,) = world.members()
    certs = {(m["subject"], m["issuer"]) for m in world.sb.members(VO) if m["id"] == uid}
    assert certs == {(old["subject_dn"], old["issuer_dn"]), (new["subject_dn"], new["issuer_dn"])}
    # the real voms-server's database knows the new certificate (subject and issuer) as a member
    rows = world.server.db.sql("SELECT ca.ca FROM usr JOIN ca ON ca.cid = usr.ca "
                               "JOIN m ON m.userid = usr.userid", world.server.database)
    assert new["issuer_dn"] in rows.splitlines()
    assert status["artifacts"]["extra"]["verification"]["voms"] == "ok"
