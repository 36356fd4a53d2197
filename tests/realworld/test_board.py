"""The instructor's board, read from a sandbox directory: stages, times, waits and errors per trainee."""

from __future__ import annotations

import sqlite3
import time

import pytest

ca_mod = pytest.importorskip("onboard.sandbox.ca")
context = pytest.importorskip("onboard.sandbox.context")

from onboard.orientation import board  # noqa: E402


def _req(db, vo, status, subject, email, **dates):
    now = time.time()
    with db:
        cur = db.execute(
            "INSERT INTO req (vo, status, confirm_id, creation_date, expiration_date, confirmation_date, "
            "completion_date, subject, issuer, email, explanation) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (vo, status, "c", dates.get("created", now - 600), dates.get("expires", now + 3600),
             dates.get("confirmed"), dates.get("completed"), subject,
             "/DC=org/DC=onboard-sandbox/CN=Onboard Sandbox Personal CA", email, dates.get("explanation")))
        return cur.lastrowid


def test_board_follows_each_trainee(tmp_path):
    # the sandbox's own schema, written the way its server writes it
    db = sqlite3.connect(tmp_path / "registration.sqlite")
    db.executescript(context.CORE_SCHEMA)
    ca = ca_mod.SandboxCA(tmp_path / "ca").ensure()
    subjects = {}
    for who in ("Ann One", "Bob Two", "Cat Three", "Dan Four", "Eve Five", "Fay Six"):
        _, info = ca.issue_user(who, who.split()[0].lower() + "@example.org", b"passphrase 12345")
        subjects[who] = info.subject
    now = time.time()
    _req(db, "sandbox", "SUBMITTED", subjects["Bob Two"], "bob@example.org")
    rid = _req(db, "sandbox", "CONFIRMED", subjects["Cat Three"], "cat@example.org", confirmed=now - 120)
    _req(db, "sandbox", "APPROVED", subjects["Dan Four"], "dan@example.org", confirmed=now - 300,
         completed=now - 60)
    _req(db, "sandbox", "REJECTED", subjects["Eve Five"], "eve@example.org", completed=now - 30,
         explanation="not in the course")
    _req(db, "sandbox", "SUBMITTED", subjects["Fay Six"], "fay@example.org", expires=now - 1)
    with db:
        db.execute("INSERT INTO event (time, vo, request_id, kind, detail) VALUES (?,?,?,?,?)",
                   (now, "sandbox", rid, "confirm-wrong-id", "Wrong confirmation id!"))
    db.close()
    rows = {r.name: r for r in board.rows(tmp_path)}
    assert rows["Ann One"].stage == "certificate" and rows["Ann One"].since is not None
    assert rows["Bob Two"].stage == "registered" and "confirmation e-mail" in rows["Bob Two"].waiting_for
    assert rows["Cat Three"].stage == "confirmed" and "approval" in rows["Cat Three"].waiting_for
    assert rows["Cat Three"].last_error == "confirm-wrong-id: Wrong confirmation id!"
    assert rows["Cat Three"].age(now) == "2m00s"
    assert rows["Dan Four"].stage == "approved"
    assert rows["Eve Five"].stage == "rejected" and "not in the course" in rows["Eve Five"].last_error
    assert rows["Fay Six"].stage == "expired"
    text = board.render(list(rows.values()), now)
    assert text.splitlines()[0].startswith("6 trainee(s)")
    assert len(text.splitlines()) == 8
    assert "! confirm-wrong-id" in text


def test_board_empty(tmp_path):
    assert board.rows(tmp_path) == []
    assert "No trainees yet" in board.render([])
