"""The instructor's second-year commands through onboard's command line and its one error layer:
`onboard sandbox members|member-end|aup-resign|aup-sign|suspend|restore|lapses-due`, and `issue --days`."""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives.serialization import pkcs12

from onboard import cli
from onboard.errors import Exit
from tests.lib.sandbox import prepare_sandbox


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _with_member(tmp_path):
    sb = prepare_sandbox(tmp_path / "sb", vos=["sandbox"])
    sb.settings.save(sb.dir / "sandbox.json")  # what `onboard sandbox up` leaves for the commands
    now = time.time()
    with sb.ctx.db() as db:
        uid = db.execute("INSERT INTO usr (vo, name, surname, email, creation_time, end_time) VALUES "
                         "('sandbox', 'Ann', 'Lee', 'ann@example.org', ?, ?)",
                         (now, now + 365 * 86400)).lastrowid
        db.execute("INSERT INTO certificate (usr_id, subject, issuer, creation_time) VALUES "
                   "(?, '/CN=Ann Lee', '/CN=Sandbox CA', ?)", (uid, now))
        db.execute("INSERT INTO aup_acceptance (usr_id, aup_version, acceptance_date) VALUES (?, '1.0', ?)",
                   (uid, now))
    return sb, str(uid)


def test_the_instructor_sets_what_lapses_and_members_shows_it(tmp_path, capsys):
    sb, uid = _with_member(tmp_path)
    d = str(sb.dir)
    code, out, _ = _run(capsys, "sandbox", "members", "--dir", d, "--json")
    (m,) = json.loads(out)
    assert code == 0 and m["suspended"] is False and m["aup"][0]["valid"] is True
    code, out, _ = _run(capsys, "sandbox", "member-end", "--dir", d, uid, "--in", "-8")
    assert code == 0 and "suspended 7 days after" in out
    code, out, _ = _run(capsys, "sandbox", "lapses-due", "--dir", d)
    assert code == 0 and f"member {uid}: suspended, membership expired" in out
    code, out, _ = _run(capsys, "sandbox", "members", "--dir", d)
    assert "suspended (MEMBERSHIP_EXPIRATION)" in out
    code, out, _ = _run(capsys, "sandbox", "restore", "--dir", d, uid)
    assert code == 0 and "active again" in out
    code, out, _ = _run(capsys, "sandbox", "aup-resign", "--dir", d, "--all", "--days", "3")
    assert code == 0 and f"member {uid}: AUP to sign again by" in out
    code, out, _ = _run(capsys, "sandbox", "members", "--dir", d, "--json")
    assert json.loads(out)[0]["pending_task"]["expirationDate"]
    code, out, _ = _run(capsys, "sandbox", "aup-sign", "--dir", d, uid)
    assert code == 0
    code, out, _ = _run(capsys, "sandbox", "suspend", "--dir", d, uid, "--reason", "SECURITY_INCIDENT")
    assert code == 0 and "security incident" in out


def test_bad_input_is_one_line_and_changes_nothing(tmp_path, capsys):
    sb, uid = _with_member(tmp_path)
    d = str(sb.dir)
    code, _, err = _run(capsys, "sandbox", "suspend", "--dir", d, "99")
    assert code == Exit.SANDBOX and "no member 99" in err and "onboard sandbox members" in err
    code, _, err = _run(capsys, "sandbox", "suspend", "--dir", d, uid, "--reason", "BORED")
    assert code == Exit.USAGE and "Traceback" not in err
    code, _, err = _run(capsys, "sandbox", "member-end", "--dir", d, uid, "--at", "next year")
    assert code == Exit.USAGE and "YYYY-MM-DD" in err
    code, _, err = _run(capsys, "sandbox", "aup-resign", "--dir", d, uid, "--days", "0")
    assert code == Exit.USAGE
    code, out, _ = _run(capsys, "sandbox", "members", "--dir", d, "--json")
    (m,) = json.loads(out)
    assert m["suspended"] is False and m["pending_task"] is None and m["aup"][0]["valid"] is True


def test_issue_days_gives_a_short_certificate(tmp_path, capsys):
    sb = prepare_sandbox(tmp_path / "sb", vos=["sandbox"])
    pw = tmp_path / "pw"
    pw.write_text("a passphrase of some length\n")
    out_p12 = tmp_path / "short.p12"
    code, out, err = _run(capsys, "sandbox", "issue", "--dir", str(sb.dir), "--name", "Sam Short",
                          "--email", "sam@example.org", "--out", str(out_p12), "--passphrase-file", str(pw),
                          "--days", "3")
    assert code == 0, err
    _, cert, _ = pkcs12.load_key_and_certificates(out_p12.read_bytes(), b"a passphrase of some length")
    left = cert.not_valid_after_utc.timestamp() - time.time()
    assert 2 * 86400 < left <= 3 * 86400
    code, _, err = _run(capsys, "sandbox", "issue", "--dir", str(sb.dir), "--name", "X",
                        "--email", "x@example.org", "--out", str(tmp_path / "x.p12"),
                        "--passphrase-file", str(pw), "--days", "0")
    assert code == Exit.USAGE and not (tmp_path / "x.p12").exists()
