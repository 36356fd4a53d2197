"""Seats of an orientation session: one short join token per trainee, made by the instructor
(`onboard sandbox seats N`), shown once and kept only as a hash.

A trainee's `onboard sandbox join --token T` claims a seat: its name, e-mail and submit-host account are
bound to the seat then, once. Everything a trainee may do on the sandbox's open listener (certificate
issue, SSH key, reports) then needs the seat's token or, once the seat's certificate is issued, that
client certificate; and it acts only on that seat's own name, account and report. A seat's certificate is
issued once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from typing import Any

# no 0/O, 1/I/L: read off a slip of paper or the board without doubt; 12 characters = 60 bits
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TOKEN_CHARS = 12
MAX_SEATS = 500
HEADER = "X-Onboard-Seat"

SCHEMA = """
CREATE TABLE IF NOT EXISTS seat (
    id INTEGER PRIMARY KEY AUTOINCREMENT, token_sha256 TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    claimed REAL, name TEXT, email TEXT UNIQUE, user TEXT UNIQUE, subject TEXT UNIQUE, issued REAL
)
"""


class SeatError(Exception):
    """A seat cannot do what was asked (the message is safe to show the client: it quotes no token)."""


def _normalise(token: str) -> str:
    return re.sub(r"[\s-]", "", token or "").upper()


def _digest(token: str) -> str:
    return hashlib.sha256(_normalise(token).encode()).hexdigest()


def new_token() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_CHARS))
    return "-".join(raw[i:i + 4] for i in range(0, TOKEN_CHARS, 4))


def make(ctx: Any, count: int) -> list[str]:
    """`count` new seats; their tokens (never stored: only their SHA-256 is)."""
    with ctx.db() as db:
        db.execute(SCHEMA)
        have = db.execute("SELECT COUNT(*) FROM seat").fetchone()[0]
        if count < 1 or have + count > MAX_SEATS:
            raise SeatError(f"a session has at most {MAX_SEATS} seats ({have} made already)")
        tokens = [new_token() for _ in range(count)]
        for t in tokens:
            db.execute("INSERT INTO seat (token_sha256, created) VALUES (?, ?)", (_digest(t), ctx.now()))
    return tokens


def by_token(db: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    if not _normalise(token):
        return None
    return db.execute("SELECT * FROM seat WHERE token_sha256 = ?", (_digest(token),)).fetchone()


def of_request(req: Any, db: sqlite3.Connection) -> sqlite3.Row | None:
    """The seat a request speaks for: its client certificate's (once issued) or its token's."""
    db.execute(SCHEMA)
    if req.client is not None and req.client.subject:
        row = db.execute("SELECT * FROM seat WHERE subject = ?", (req.client.subject,)).fetchone()
        if row is not None:
            return row
    return by_token(db, req.headers.get(HEADER) or "")


def claim(db: sqlite3.Connection, seat: sqlite3.Row, name: str, email: str, now: float) -> None:
    """Bind the trainee's name and e-mail to the seat, once: a second claim must say the same, and no two
    seats share an address."""
    if seat["claimed"] is not None:
        if (seat["name"], seat["email"]) != (name, email):
            raise SeatError("this seat is already taken by someone else")
        return
    try:
        db.execute("UPDATE seat SET claimed = ?, name = ?, email = ? WHERE id = ?",
                   (now, name, email, seat["id"]))
    except sqlite3.IntegrityError:  # the address's mail would reach the other seat's trainee
        raise SeatError("another seat uses this e-mail address") from None


def bind_user(db: sqlite3.Connection, seat: sqlite3.Row, user: str) -> None:
    """The seat's account on the submit host, bound once and owned by no other seat."""
    if seat["user"] == user:
        return
    if seat["user"] is not None:
        raise SeatError(f"this seat's account on the submit host is {seat['user']}")
    try:
        db.execute("UPDATE seat SET user = ? WHERE id = ?", (user, seat["id"]))
    except sqlite3.IntegrityError:
        raise SeatError(f"the account {user} belongs to another seat") from None


def owner_of_user(db: sqlite3.Connection, user: str) -> sqlite3.Row | None:
    db.execute(SCHEMA)
    return db.execute("SELECT * FROM seat WHERE user = ?", (user,)).fetchone()


def bind_subject(db: sqlite3.Connection, seat: sqlite3.Row, subject: str, now: float) -> None:
    """The seat's certificate DN, bound once (a second certificate for the seat or the DN is refused)."""
    if seat["subject"] is not None:
        raise SeatError("this seat's certificate was issued already")
    try:
        db.execute("UPDATE seat SET subject = ?, issued = ? WHERE id = ?", (subject, now, seat["id"]))
    except sqlite3.IntegrityError:
        raise SeatError("a certificate with this name was issued already") from None


def headers_for(token_file: Any) -> dict[str, str]:
    """The trainee's side: the header that names its seat, from the file `join` wrote (none: no header)."""
    from pathlib import Path

    if not token_file:
        return {}
    try:
        token = Path(token_file).expanduser().read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return {}
    return {HEADER: token} if token else {}
