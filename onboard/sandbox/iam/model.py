"""IAM's tables in the sandbox's database and the JSON IAM answers for a registration request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_request (
    uuid TEXT PRIMARY KEY, vo TEXT NOT NULL, username TEXT NOT NULL, givenname TEXT NOT NULL,
    familyname TEXT NOT NULL, email TEXT NOT NULL, notes TEXT, status TEXT NOT NULL,
    confirmation_key TEXT, reset_key TEXT, password_hash TEXT, active INTEGER NOT NULL DEFAULT 0,
    creation_time REAL NOT NULL, last_update REAL NOT NULL, motivation TEXT
);
CREATE TABLE IF NOT EXISTS iam_x509 (
    vo TEXT NOT NULL, username TEXT NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL,
    PRIMARY KEY (vo, subject, issuer)
);
"""


def dto(row: Any) -> dict[str, Any]:
    return {
        "uuid": row["uuid"],
        "status": row["status"],
        "username": row["username"],
        "givenname": row["givenname"],
        "familyname": row["familyname"],
        "email": row["email"],
        "notes": row["notes"],
        "creationTime": int(row["creation_time"] * 1000),
        "lastUpdateTime": int(row["last_update"] * 1000),
        "labels": [],
    }


def link_certificate(ctx: SandboxContext, vo: str, username: str, subject: str, issuer: str) -> None:
    """What the user's dashboard does with `POST /iam/account-linking/X509`."""
    with ctx.db() as db:
        other = db.execute(
            "SELECT username FROM iam_x509 WHERE vo=? AND subject=? AND issuer=?", (vo, subject, issuer)
        ).fetchone()
        if other is not None and other["username"] != username:
            raise ValueError(f"X.509 certificate {subject} is already linked to another user")
        db.execute(
            "INSERT OR REPLACE INTO iam_x509 (vo, username, subject, issuer) VALUES (?,?,?,?)",
            (vo, username, subject, issuer),
        )
