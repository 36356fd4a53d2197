"""`onboard renew` on the command line, without servers: what it refuses (one line, a hint, its exit code,
the record unchanged), how it turns a done journey into its renewal (one save, the previous credential
kept in the record), and what `status` then shows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from onboard import workflow
from onboard.commands.renew import begin
from onboard.errors import Exit
from onboard.state import JourneyRecord
from onboard.store import Store

VO = "renewvo"


def _done_record(tmp_path: Path, wf: str = "voms-admin", state: str = "done") -> JourneyRecord:
    rec = JourneyRecord(vo=VO, workflow=wf, state=state)
    a = rec.artifacts
    a.cert, a.key, a.package = tmp_path / "cert-old.pem", tmp_path / "key-old.pem", tmp_path / "pkg-old.p12"
    a.registration_url = "https://voms.example.org:8443/voms/renewvo"
    a.certificate.subject_dn, a.certificate.issuer_dn = "/DC=org/CN=Jane Doe", "/DC=org/CN=Old CA"
    a.certificate.sha256 = "AA:BB"
    a.fqans = [f"/{VO}/Role=NULL/Capability=NULL"]
    a.remote = {"host": "submit.example.org", "usercert.pem": "AA:BB"}
    Store(tmp_path / "state").save(rec)
    return rec


def test_begin_keeps_the_previous_credential_and_starts_the_renewal(tmp_path):
    rec = _done_record(tmp_path)
    wf = workflow.load("renew-voms-admin")
    begin(rec, wf, datetime(2027, 11, 1, tzinfo=timezone.utc))
    assert rec.workflow == "renew-voms-admin" and rec.state == "obtain"
    prev = rec.artifacts.extra["renewal"]["previous"]
    assert prev["cert"].endswith("cert-old.pem")
    assert prev["certificate"]["subject_dn"] == "/DC=org/CN=Jane Doe"
    assert prev["fqans"] == [f"/{VO}/Role=NULL/Capability=NULL"] and prev["workflow"] == "voms-admin"
    assert rec.artifacts.cert is None and rec.artifacts.p12 is None and rec.artifacts.fqans == []
    assert rec.artifacts.registration_url.endswith("/voms/renewvo")  # the server the membership is on
    assert rec.artifacts.extra["renewal"]["round"] == 1
    begin(rec, wf, datetime(2028, 11, 1, tzinfo=timezone.utc))  # the year after: the renewal's own
    assert rec.artifacts.extra["renewal"]["round"] == 2


def test_no_journey_is_a_state_error_with_a_hint(cli):
    r = cli("renew", "--vo", VO)
    assert r.returncode == Exit.STATE, r.stderr
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert "no journey for VO 'renewvo' to renew" in r.stderr and "onboard start --vo renewvo" in r.stderr
    assert len(lines) <= 2 and "Traceback" not in r.stderr


def test_a_journey_not_done_is_refused_and_left_as_it_was(cli, onboard_env, tmp_path):
    _done_record(tmp_path, state="await_approval")
    path = Path(onboard_env["ONBOARD_STATE_DIR"]) / f"{VO}.json"
    before = path.read_bytes()
    r = cli("renew", "--vo", VO)
    assert r.returncode == Exit.STATE and "not done yet" in r.stderr and "onboard resume" in r.stderr
    assert path.read_bytes() == before


def test_a_vomrs_journey_says_renewal_is_not_built_for_it(cli, tmp_path):
    _done_record(tmp_path, wf="vomrs")
    r = cli("renew", "--vo", VO)
    assert r.returncode == Exit.USAGE and "not implemented" in r.stderr and "Traceback" not in r.stderr


def test_a_fresh_renewal_is_not_renewed_again(cli, tmp_path):
    rec = _done_record(tmp_path, wf="renew-voms-admin")
    rec.artifacts.certificate.not_after = datetime.now(timezone.utc) + timedelta(days=300)
    Store(tmp_path / "state").save(rec)
    r = cli("renew", "--vo", VO)
    assert r.returncode == Exit.OK and "renewed already" in r.stdout + r.stderr


def test_status_shows_the_renewal(cli, tmp_path):
    rec = _done_record(tmp_path)
    begin(rec, workflow.load("renew-voms-admin"), datetime.now(timezone.utc))
    Store(tmp_path / "state").save(rec)
    shown = json.loads(cli("status", "--vo", VO, "--json").stdout)
    assert shown["workflow"] == "renew-voms-admin" and shown["state"] == "obtain"
    text = cli("status", "--vo", VO).stdout
    assert "Renewal" in text and "new personal certificate" in text


def test_a_renewal_csr_with_the_old_key_where_the_ca_allows_it(tmp_path, onboard_env):
    """ca.csr + ca.renew_with_old_key: the renewal's CSR carries the previous key's public key, the key file
    is not rewritten, and the issued certificate is packed with it; without the option, a new key."""
    import pytest
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    from onboard.config import Config
    from onboard.errors import Waiting
    from onboard.steps import obtain
    from tests.lib.context import step_context
    from tests.lib.pki import issue, name, pem

    pw = "a long enough passphrase"
    pf = tmp_path / "pass"
    pf.write_text(pw + "\n")
    old_key = tmp_path / "key-old.pem"
    key = rsa.generate_private_key(65537, 2048)
    old_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(pw.encode())))
    before = old_key.read_bytes()
    dl = tmp_path / "Downloads"
    dl.mkdir()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    for reuse in (True, False):
        rec = JourneyRecord(vo=VO, workflow="voms-admin", state="done")
        rec.artifacts.key = old_key
        begin(rec, workflow.load("renew-voms-admin"), datetime.now(timezone.utc))
        cfg = Config.model_validate({"user": {"given_name": "Jane", "family_name": "Doe"},
                                     "ca": {"provider": "other", "csr": True, "renew_with_old_key": reuse,
                                            "download_dir": str(dl), "open_browser": False}})
        ctx = step_context(record=rec, config=cfg, passphrase_file=pf, state="obtain",
                           options={"passphrase_file": pf})
        with pytest.raises(Waiting):
            obtain.run(ctx)
        csr = x509.load_pem_x509_csr(rec.artifacts.csr.read_bytes())
        same = csr.public_key().public_bytes(serialization.Encoding.DER, spki) == \
            key.public_key().public_bytes(serialization.Encoding.DER, spki)
        assert same == reuse
        assert (rec.artifacts.key == old_key) == reuse and old_key.read_bytes() == before
        if reuse:
            root_ca = issue(name(("DC", "org"), ("CN", "New CA")), ca=True)
            mine = issue(name(("DC", "org"), ("CN", "Jane Doe")), root_ca, public_key=csr.public_key()).cert
            (dl / "jane.crt").write_bytes(pem(mine) + pem(root_ca.cert))
            obtain.run(ctx)
            k, cert, _ = pkcs12.load_key_and_certificates(rec.artifacts.p12.read_bytes(), pw.encode())
            assert cert == mine and k.public_key().public_numbers() == key.public_key().public_numbers()
            (dl / "jane.crt").unlink()


def test_a_second_request_within_the_same_second_gets_its_own_files(tmp_path):
    """Two CSRs a second apart or less (a renewal with the old key, then one with a new key) never collide:
    the earlier request and key stay as they are."""
    from datetime import datetime, timedelta, timezone

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from onboard.obtain.other import csr_for_key

    pw = "a long enough passphrase"
    key = tmp_path / "key-old.pem"
    key.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(pw.encode())))
    out = tmp_path / "requests"
    out.mkdir(mode=0o700)
    now = datetime.now(timezone.utc)
    taken = {}
    for s in range(3):  # this second and the next two are taken already
        p = out / f"request-{(now + timedelta(seconds=s)).strftime('%Y%m%dT%H%M%SZ')}.pem"
        p.write_text(f"earlier {s}")
        taken[p] = p.read_text()
    _, csr_path, pem = csr_for_key(key, "Jane Doe", pw, out)
    assert csr_path not in taken and csr_path.read_bytes() == pem
    assert all(p.read_text() == text for p, text in taken.items())
