"""`onboard check`'s local items through the CLI, as cron runs it (stdin not a terminal, no secret):
the certificate's end, CMS's CRAB rule, the trust anchors' CRLs; each exit code; the JSON parsed."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from onboard.errors import Exit
from onboard.state import JourneyRecord
from onboard.store import Store
from tests.lib.pki import CA, name


@pytest.fixture(scope="module")
def ca():
    return CA()


def _setup(tmp_path: Path, ca: CA, *, cert_days: int, crl_next: dt.timedelta | None = dt.timedelta(days=5)):
    globus = tmp_path / "globus"
    globus.mkdir()
    user = ca.issue(name(("DC", "org"), ("DC", "onboard-test"), ("OU", "People"), ("CN", "Jane Doe")),
                    days=cert_days)
    (globus / "usercert.pem").write_bytes(user.pem())
    fd = os.open(globus / "userkey.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(user.key_pem("key passphrase 1234"))
    trust = ca.trust_dir(tmp_path / "certificates")
    if crl_next is not None:
        now = dt.datetime.now(dt.timezone.utc)
        crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(now - dt.timedelta(days=1)).next_update(now + crl_next)
               .sign(ca.key, hashes.SHA256()))
        h = next(p.stem for p in trust.glob("*.0"))
        from cryptography.hazmat.primitives.serialization import Encoding

        (trust / f"{h}.r0").write_bytes(crl.public_bytes(Encoding.PEM))
    config = tmp_path / "config.toml"
    config.write_text(f'[credentials]\ndir = "{globus}"\n\n[trust]\ncert_dir = "{trust}"\n')
    return config


def _check(cli, config, *extra):
    return cli("--config", str(config), "check", "--json", *extra)


def test_all_fine_is_exit_0_and_the_json_says_why(cli, tmp_path, ca):
    r = _check(cli, _setup(tmp_path, ca, cert_days=200), "--warn-days", "10")
    assert r.returncode == Exit.OK, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["exit_code"] == 0 and out["warn_days"] == 10
    states = {i["what"].split(" ")[0]: i["state"] for i in out["items"]}
    assert states["certificate"] == "ok" and states["CRLs"] == "ok"
    cert = next(i for i in out["items"] if i["what"].startswith("certificate"))
    end = dt.datetime.fromisoformat(cert["when"])
    assert 198 <= (end - dt.datetime.now(dt.timezone.utc)).days <= 200


def test_a_certificate_ending_within_the_warning_is_exit_50_with_what_to_do(cli, tmp_path, ca):
    r = cli("--config", str(_setup(tmp_path, ca, cert_days=20)), "check", "--warn-days", "30")
    assert r.returncode == Exit.LAPSING, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("LAPSING"))
    assert "certificate" in line and re.search(r"in 1[89] days", line) and "onboard renew" in line
    assert r.stderr == ""


def test_a_stale_crl_is_exit_51(cli, tmp_path, ca):
    r = _check(cli, _setup(tmp_path, ca, cert_days=200, crl_next=dt.timedelta(hours=-2)), "--warn-days", "10")
    assert r.returncode == Exit.LAPSED
    crl = next(i for i in json.loads(r.stdout)["items"] if i["what"] == "CRLs")
    assert crl["state"] == "lapsed" and "fetch-crl" in crl["todo"]


def test_crab_refuses_a_cms_certificate_30_days_before_its_end(cli, tmp_path, ca, onboard_env):
    config = _setup(tmp_path, ca, cert_days=25)
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(JourneyRecord(vo="cms", workflow="iam", state="done"))
    r = _check(cli, config, "--warn-days", "10", "--offline")
    assert r.returncode == Exit.LAPSED  # the certificate still has 24 days, CRAB already refuses it
    items = {i["what"]: i for i in json.loads(r.stdout)["items"]}
    assert items["CRAB (CMS) accepts the certificate"]["state"] == "lapsed"
    assert next(i for w, i in items.items() if w.startswith("certificate"))["state"] == "ok"


def test_bad_warn_days_is_a_usage_error(cli, tmp_path, ca):
    r = _check(cli, _setup(tmp_path, ca, cert_days=200), "--warn-days", "-1")
    assert r.returncode == Exit.USAGE and "out of range" in r.stderr and "Traceback" not in r.stderr


def test_an_iam_membership_asked_without_a_terminal_or_passphrase_is_skipped(cli, tmp_path, ca, onboard_env):
    """IAM's VOMS-AA answers the certificate itself, so the check needs the key: without a terminal and
    without a passphrase source it is skipped, never prompted for (and nothing is sent: 127.0.0.1:1)."""
    config = _setup(tmp_path, ca, cert_days=200)
    record = JourneyRecord(vo="labvo", workflow="iam", state="done")
    record.artifacts.registration_url = "https://127.0.0.1:1"
    record.artifacts.extra["registration"] = "member"
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(record)
    r = _check(cli, config, "--warn-days", "10")
    assert r.returncode == Exit.CHECK_UNKNOWN, r.stdout + r.stderr
    item = next(i for i in json.loads(r.stdout)["items"] if i["what"] == "membership of labvo")
    assert item["state"] == "skipped" and "passphrase" in item["detail"]


def _maildir(tmp_path: Path, *subjects: str) -> Path:
    import mailbox
    from email.message import EmailMessage
    from email.utils import format_datetime

    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for subject in subjects:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "iam@example.org", "jane@example.org", subject
        msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
        msg.set_content("Dear jane,\n\nwe kindly remind you to sign the Acceptable Usage Policy (AUP).\n")
        box.add(msg)
    return tmp_path / "Maildir"


@pytest.mark.parametrize("subject, state, code", [
    ("[atlas IAM] AUP signature reminder", "lapsing", Exit.LAPSING),
    ("[atlas IAM] AUP signature expiration", "lapsed", Exit.LAPSED),
])
def test_iam_aup_mails_are_the_signal_where_iam_tells_nothing(cli, tmp_path, ca, onboard_env, subject, state,
                                                             code):
    config = _setup(tmp_path, ca, cert_days=200)
    maildir = _maildir(tmp_path, subject, "Unrelated newsletter")
    config.write_text(config.read_text() + f'\n[mail]\nkind = "maildir"\nmaildir = "{maildir}"\n')
    record = JourneyRecord(vo="atlas", workflow="iam", state="done")
    record.artifacts.registration_url = "https://atlas-auth.example.org"
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(record)
    r = _check(cli, config, "--warn-days", "10")
    assert r.returncode == code, r.stdout + r.stderr
    (item,) = [i for i in json.loads(r.stdout)["items"] if i["what"].startswith("mail")]
    assert item["state"] == state and item["vo"] == "atlas" and subject in item["detail"]
    assert "Sign the AUP" in item["todo"]


def test_a_broken_or_hostile_record_gives_lines_not_a_crash():
    from onboard.lapse.membership import from_user_info

    now = dt.datetime.now(dt.timezone.utc)
    items = from_user_info("x", {
        "suspended": True, "suspensionReason": "evil\x1b[2J\nsecond line", "endTime": 12345,
        "aupAcceptanceRecords": [{"valid": True, "daysBeforeExpiration": "many"}, "junk"],
        "pendingSignAUPTask": ["not", "a", "task"],
    }, now, 30)
    states = {i.what: i.state for i in items}
    assert states == {"membership of x": "lapsed", "AUP of x": "unknown"}  # "many" days: not a date
    from onboard.errors import one_line

    assert "\n" not in one_line(items[0].detail) and "\x1b" not in one_line(items[0].detail)


def test_a_registration_still_waiting_is_not_a_lapse_and_not_asked(cli, tmp_path, ca, onboard_env):
    config = _setup(tmp_path, ca, cert_days=200)
    record = JourneyRecord(vo="testvo", workflow="voms-admin", state="await_approval")
    record.artifacts.registration_url = "https://127.0.0.1:1/voms/testvo"  # nothing listens: never asked
    record.artifacts.extra["registration"] = "confirmed"
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(record)
    r = _check(cli, config, "--warn-days", "10")
    assert r.returncode == Exit.OK, r.stdout + r.stderr
    assert not [i for i in json.loads(r.stdout)["items"] if i["vo"] == "testvo"]


def test_a_trust_directory_untouched_for_months_is_lapsing_even_with_fresh_crls(cli, tmp_path, ca):
    config = _setup(tmp_path, ca, cert_days=200)
    trust = tmp_path / "certificates"
    old = dt.datetime.now(dt.timezone.utc).timestamp() - 120 * 86400
    for p in trust.iterdir():
        if not p.suffix.startswith(".r"):
            os.utime(p, (old, old))  # the CRL keeps today's time, as fetch-crl leaves it
    r = _check(cli, config, "--warn-days", "10")
    assert r.returncode == Exit.LAPSING, r.stdout
    item = next(i for i in json.loads(r.stdout)["items"] if i["what"] == "trust anchors' age")
    assert item["state"] == "lapsing" and "120 days" in item["detail"] and "IGTF" in item["todo"]
