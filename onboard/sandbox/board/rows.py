"""The board's data: one row per trainee — where they stand, since when, what they wait for, and the last
thing that went wrong — read from the sandbox's own records, so trainees need do nothing for it. Used by
the terminal board (onboard/orientation/board.py) and the board page (board/routes.py).

Sources in the sandbox directory: ca/issued.jsonl (certificates handed out), registration.sqlite (requests,
their states and dates, and the event log), submit/ (credentials delivered to the submit host), and
board/<name>.json (what a trainee's onboard reported, when it reports: the exact stage and last error).
"""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

# stage -> (order, what the trainee waits for there)
STAGES = {
    "certificate": (1, "to register with the VO"),
    "registered": (2, "the confirmation e-mail to be opened"),
    "confirmed": (3, "the instructor's approval"),
    "approved": (4, "delivery to the submit host"),
    "delivered": (5, "verification with voms-proxy-init"),
    "done": (6, ""),
    "expired": (7, "a new request (the old one expired)"),
    "rejected": (8, "nothing: rejected"),
}
ERROR_KINDS = re.compile(r"error|fail|wrong|invalid|refus|denied|expire|reject", re.IGNORECASE)


@dataclass
class Row:
    name: str
    email: str
    subject: str
    stage: str
    since: float | None
    waiting_for: str
    last_error: str = ""
    request_id: int | None = None
    vo: str = ""
    # stage -> when the trainee entered it, as far as the records tell: how long each stage takes (room.py)
    entered: dict[str, float] = field(default_factory=dict)

    def age(self, now: float) -> str:
        if self.since is None:
            return "-"
        s = max(0, int(now - self.since))
        return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _cn(subject: str) -> str:
    """The name in a DN, its letters as they are (OpenSSL's form writes Ñ as \\xC3\\x91); a control
    character that decodes is escaped again where it is shown (render's one_line; the page's text)."""
    from onboard.pki.names import readable

    m = re.search(r"/CN=([^/]*)$", subject)
    return readable(m.group(1)) if m else subject


def _issued(directory: Path) -> list[dict]:
    path = directory / "ca" / "issued.jsonl"
    out = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    except OSError:
        pass
    return out


def _requests(directory: Path) -> tuple[list[sqlite3.Row], dict[int, list[sqlite3.Row]]]:
    db_path = directory / "registration.sqlite"
    if not db_path.exists():
        return [], {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        reqs = conn.execute("SELECT * FROM req ORDER BY request_id").fetchall()
        events: dict[int, list[sqlite3.Row]] = {}
        try:
            for ev in conn.execute("SELECT * FROM event ORDER BY id"):
                if ev["request_id"] is not None:
                    events.setdefault(ev["request_id"], []).append(ev)
        except sqlite3.OperationalError:
            pass
        return reqs, events
    except sqlite3.OperationalError:
        return [], {}
    finally:
        conn.close()


# (path, mtime_ns, size) -> subject: the board page asks every 2 s, and a room's worth of certificates
# parsed each time was most of its cost (bench/orientation); a changed file is read again
_SUBJECTS: dict[tuple[str, int, int], str] = {}


def _seat_users(directory: Path) -> dict[str, str] | None:
    """account on the submit host -> the DN of the seat that owns it; None when the session has no seats."""
    db_path = directory / "registration.sqlite"
    if not db_path.exists():
        return None
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        got = conn.execute("SELECT user, subject FROM seat").fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return {user: subject for user, subject in got if user} if got else None


MAX_CERT_BYTES = 64 * 1024  # a usercert.pem is a few KiB; a trainee's huge file is not read


def _homes(directory: Path):
    """The submit host's homes (a seat's Unix account under /home with the real sshd, DIR/submit/home
    otherwise), as the sandbox's settings choose them; None when they cannot be told."""
    try:
        from onboard.sandbox.settings import Settings
        from onboard.sandbox.submit_host import homes_for

        path = directory / "sandbox.json"
        return homes_for(directory, Settings.load(path) if path.exists() else Settings())
    except Exception:  # noqa: BLE001 - an unreadable setting costs the board its "delivered" column only
        return None


def _subject_of(cert: Path) -> str | None:
    """The DN of a home's usercert.pem: a regular file of sane size, not followed through a link (the
    trainee owns the home and may plant a link, a FIFO or a huge file there)."""
    from onboard.pki.names import oneline
    from onboard.pki.trustdirs import load_cert

    try:
        st = cert.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CERT_BYTES:
        return None
    key = (str(cert), st.st_mtime_ns, st.st_size)
    subject = _SUBJECTS.get(key)
    if subject is None:
        try:
            subject = oneline(load_cert(cert).subject)
        except (OSError, ValueError):
            return None
        if len(_SUBJECTS) > 4096:
            _SUBJECTS.clear()
        _SUBJECTS[key] = subject
    return subject


def _delivered(directory: Path) -> dict[str, float]:
    """subject DN -> when its usercert.pem appeared in a home on the sandbox submit host. With seats, only
    the certificate of the seat that owns the home counts: a trainee who puts another's (public)
    certificate in their own ~/.globus does not move that trainee on the board."""
    out: dict[str, float] = {}
    homes = _homes(directory)
    if homes is None:
        return out
    owners = _seat_users(directory)
    if owners is None:  # no seats (the demo, the tests' own sandboxes): every home under the sandbox's
        found = [(None, c) for c in (directory / "submit" / "home").glob("*/.globus/usercert.pem")]
    else:
        found = []
        for user, subject in owners.items():
            if not subject:  # no certificate issued to the seat yet: nothing of its can be delivered
                continue
            try:
                found.append((subject, homes.home(user) / ".globus" / "usercert.pem"))
            except ValueError:  # not a user name the submit host takes
                continue
    for owner, cert in found:
        subject = _subject_of(cert)
        if subject is None or (owner is not None and subject != owner):
            continue
        try:
            out[subject] = cert.lstat().st_mtime
        except OSError:
            continue
    return out


def _reports(directory: Path) -> dict[str, dict]:
    """What trainees' onboard reported (board/<anything>.json: subject, state, since, last_error)."""
    out: dict[str, dict] = {}
    for path in (directory / "board").glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and (data.get("subject") or data.get("email")):
            out[data.get("subject") or data["email"]] = data
    return out


def _rejected(by_subject: dict[str, Row], events: dict[int, list[sqlite3.Row]]) -> None:
    """VOMS-Admin deletes a rejected request: the event log alone remembers it ("<DN> by <who>: <reason>").
    A trainee with no request now and a rejection in the log stands at "rejected", with the reason."""
    for evs in events.values():
        for ev in evs:
            if ev["kind"] != "rejected" or not ev["detail"]:
                continue
            subject, _, rest = ev["detail"].partition(" by ")
            row = by_subject.get(subject)
            if row is None or row.request_id is not None:
                continue
            reason = rest.partition(": ")[2]
            row.stage, row.since, row.waiting_for = "rejected", ev["time"], STAGES["rejected"][1]
            row.entered["rejected"] = ev["time"]
            row.last_error = f"rejected: {reason}" if reason else "rejected"


def rows(directory: Path, now: float | None = None) -> list[Row]:
    now = time.time() if now is None else now
    by_subject: dict[str, Row] = {}
    for rec in _issued(directory):
        subject = rec.get("subject", "")
        since = _ts(rec.get("issued") or rec.get("time"))
        if since is None and rec.get("not_after"):  # issued.jsonl keeps notAfter; a leaf lives LEAF_DAYS
            from onboard.sandbox.ca import LEAF_DAYS

            end = _ts(rec["not_after"])
            since = end - LEAF_DAYS * 86400 if end else None
        by_subject[subject] = Row(_cn(subject), rec.get("email", ""), subject, "certificate", since,
                                  STAGES["certificate"][1], entered={"certificate": since} if since else {})
    reqs, events = _requests(directory)
    for req in reqs:
        subject = req["subject"]
        row = by_subject.get(subject) or Row(_cn(subject), req["email"], subject, "certificate", None, "")
        status = (req["status"] or "").upper()
        if status == "SUBMITTED" and req["expiration_date"] and req["expiration_date"] < now:
            stage, since = "expired", req["expiration_date"]
        elif status == "SUBMITTED":
            stage, since = "registered", req["creation_date"]
        elif status in ("CONFIRMED", "PENDING"):
            stage, since = "confirmed", req["confirmation_date"] or req["creation_date"]
        elif status == "APPROVED":
            stage, since = "approved", req["completion_date"]
        elif status == "REJECTED":
            stage, since = "rejected", req["completion_date"]
        else:
            stage, since = "registered", req["creation_date"]
        row.stage, row.since, row.request_id, row.vo = stage, since, req["request_id"], req["vo"]
        for name, when in (("registered", req["creation_date"]), ("confirmed", req["confirmation_date"]),
                           (stage, since)):
            if when is not None and STAGES[name][0] <= STAGES[stage][0]:
                row.entered[name] = when
        row.waiting_for = STAGES[stage][1]
        row.email = row.email or req["email"]
        errors = [ev for ev in events.get(req["request_id"], []) if ERROR_KINDS.search(ev["kind"] or "")]
        if errors:
            ev = errors[-1]
            row.last_error = f"{ev['kind']}: {ev['detail']}" if ev["detail"] else ev["kind"]
        if stage == "rejected" and req["explanation"]:
            row.last_error = f"rejected: {req['explanation']}"
        if req["hook_error"]:
            row.last_error = f"on-approval hook: {req['hook_error']}"
        by_subject[subject] = row
    _rejected(by_subject, events)
    for subject, when in _delivered(directory).items():
        row = by_subject.get(subject)
        if row is not None and STAGES[row.stage][0] < STAGES["delivered"][0] and row.stage == "approved":
            # delivery runs beside registration: "delivered" (after approval) begins at the later of the two
            when = max(when, row.since or 0)
            row.stage, row.since, row.waiting_for = "delivered", when, STAGES["delivered"][1]
            row.entered["delivered"] = when
    by_email = {r.email: r for r in by_subject.values() if r.email}
    for key, rep in _reports(directory).items():
        row = by_subject.get(key) or by_email.get(rep.get("email") or "")
        if row is None:
            continue
        if rep.get("done"):  # the trainee's own word: done, whatever hiccups the server saw on the way
            row.stage, row.waiting_for, row.last_error = "done", "", ""
            row.since = _ts(rep.get("since")) or row.since
            if row.since is not None:
                row.entered["done"] = row.since
            continue
        # the trainee's words for the wait, unless the stage began after they said them (an approval the
        # trainee's onboard has not seen yet: "waiting for approval" would be stale)
        elif rep.get("waiting_for") and row.stage in ("certificate", "approved", "delivered") and (
                row.since is None or not isinstance(rep.get("received"), (int, float))
                or rep["received"] >= row.since):
            row.waiting_for = str(rep["waiting_for"])
        row.last_error = str(rep.get("last_error") or "") or row.last_error
    return sorted(by_subject.values(), key=lambda r: (STAGES[r.stage][0], r.since or 0, r.name))


def _ts(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        from datetime import datetime

        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None
