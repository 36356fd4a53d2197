"""Who may see the board page and act on it: the instructor, and nobody else in the room.

The page lives on the sandbox's open listener, which every trainee reaches, and loopback is no proof of
being the instructor either: a trainee's shell on the sandbox's submit host runs on the instructor's
machine and shares its network (submit_host/confine.py). So the one key is the instructor's token, made by
`onboard sandbox board --web` on the instructor's machine (shown once, kept only as its SHA-256; a new one
ends the old one and every session opened with it). The token buys a session: a random id in a cookie
(`__Host-`, Secure, HttpOnly, SameSite=Strict: never sent by another site's page) kept hashed in the
database, and a CSRF token the page sends back in a header with every action. A trainee's seat token or
client certificate counts for nothing here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from typing import Any

COOKIE = "__Host-onboard-board"
SESSION_SECONDS = 12 * 3600  # a school day
MAX_SESSIONS = 50  # the instructor's browsers (laptop, projector, phone): the oldest go first

SCHEMA = """
CREATE TABLE IF NOT EXISTS board_access (
    id INTEGER PRIMARY KEY CHECK (id = 1), token_sha256 TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS board_session (
    sid_sha256 TEXT PRIMARY KEY, csrf TEXT NOT NULL, token_sha256 TEXT NOT NULL, created REAL NOT NULL
)
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_schema(db: sqlite3.Connection) -> None:
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)


def new_token(ctx: Any) -> str:
    """A fresh instructor token (the old one and its sessions end); only its hash is kept."""
    token = secrets.token_urlsafe(32)
    with ctx.db() as db:
        ensure_schema(db)
        db.execute("DELETE FROM board_session")
        db.execute("INSERT OR REPLACE INTO board_access (id, token_sha256, created) VALUES (1, ?, ?)",
                   (_digest(token), ctx.now()))
    return token


def login(ctx: Any, token: str) -> tuple[str, str] | None:
    """(session id, CSRF token) for the instructor's token; None for anything else."""
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        return None
    with ctx.db() as db:
        ensure_schema(db)
        row = db.execute("SELECT token_sha256 FROM board_access WHERE id = 1").fetchone()
        if row is None or not hmac.compare_digest(row["token_sha256"], _digest(token.strip())):
            return None
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        db.execute("INSERT INTO board_session (sid_sha256, csrf, token_sha256, created) VALUES (?, ?, ?, ?)",
                   (_digest(sid), csrf, row["token_sha256"], ctx.now()))
        db.execute("DELETE FROM board_session WHERE sid_sha256 NOT IN (SELECT sid_sha256 FROM board_session "
                   "ORDER BY created DESC LIMIT ?)", (MAX_SESSIONS,))
    return sid, csrf


def cookie_value(header: str | None) -> str:
    """The session cookie from a Cookie header, read by hand: `__Host-` names are not every parser's."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value.strip()
    return ""


def session(ctx: Any, cookie_header: str | None) -> sqlite3.Row | None:
    """The live session a request's cookie names (opened with the current token, not too old), or None."""
    sid = cookie_value(cookie_header)
    if not sid or len(sid) > 200:
        return None
    # read-only, outside ctx.db()'s write transaction: the page asks every 2 s, while a room registers
    try:
        conn = sqlite3.connect(f"file:{ctx.db_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:  # no database yet
        return None
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            "SELECT s.* FROM board_session s JOIN board_access a ON a.id = 1 "
            "AND a.token_sha256 = s.token_sha256 WHERE s.sid_sha256 = ? AND s.created > ?",
            (_digest(sid), ctx.now() - SESSION_SECONDS)).fetchone()
    except sqlite3.OperationalError:  # no board table yet: no instructor token was ever made
        return None
    finally:
        conn.close()


def logout(ctx: Any, cookie_header: str | None) -> None:
    sid = cookie_value(cookie_header)
    if sid:
        with ctx.db() as db:
            ensure_schema(db)
            db.execute("DELETE FROM board_session WHERE sid_sha256 = ?", (_digest(sid),))


def csrf_ok(row: sqlite3.Row, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(row["csrf"], sent or "")


def set_cookie(sid: str) -> str:
    return f"{COOKIE}={sid}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}"


def clear_cookie() -> str:
    return f"{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
