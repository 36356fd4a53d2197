"""The sandbox IAM's OAuth tables: registered clients, device codes and refresh tokens.

A device code moves pending -> approved | denied (the /device page or `onboard sandbox iam-device-approve`);
the token endpoint hands out tokens once for an approved code and then forgets it, as upstream's
DeviceCodeService does. Refresh tokens are stored as their SHA-256 only.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS oidc_client (
    client_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, vo TEXT NOT NULL, name TEXT,
    scope TEXT NOT NULL, grant_types TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS oidc_device (
    device_code TEXT PRIMARY KEY, user_code TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL, vo TEXT NOT NULL,
    scope TEXT NOT NULL, expires REAL NOT NULL, last_poll REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending', username TEXT
);
CREATE TABLE IF NOT EXISTS oidc_refresh (
    token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, vo TEXT NOT NULL, username TEXT NOT NULL,
    scope TEXT NOT NULL, expires REAL NOT NULL
);
"""

DEVICE_CODE_SECONDS = 600  # IAM's default device code validity (V21 migration: 600 s)
POLL_INTERVAL = 5  # seconds; a poll sooner than this gets slow_down (RFC 8628 §3.5)
REFRESH_SECONDS = 30 * 24 * 3600
# IAM's user codes: six characters from an alphabet without look-alikes
_USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def register_client(ctx: SandboxContext, vo: str, name: str, scope: str, grant_types: list[str]) -> dict:
    client_id, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    with ctx.db() as db:
        db.execute(
            "INSERT INTO oidc_client (client_id, secret_hash, vo, name, scope, grant_types, created) "
            "VALUES (?,?,?,?,?,?,?)",
            (client_id, digest(secret), vo, name, scope, " ".join(grant_types), ctx.now()),
        )
    return {"client_id": client_id, "client_secret": secret}


def client(ctx: SandboxContext, vo: str, client_id: str, secret: str | None) -> Any:
    """The client row when id and secret match (a confidential client), else None."""
    with ctx.db() as db:
        row = db.execute("SELECT * FROM oidc_client WHERE vo=? AND client_id=?", (vo, client_id)).fetchone()
    if row is None or secret is None or not secrets.compare_digest(row["secret_hash"], digest(secret)):
        return None
    return row


def new_device_code(ctx: SandboxContext, vo: str, client_id: str, scope: str) -> dict:
    device_code = secrets.token_urlsafe(32)
    with ctx.db() as db:
        db.execute("DELETE FROM oidc_device WHERE expires < ?", (ctx.now(),))
        while True:
            user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(6))
            if db.execute("SELECT 1 FROM oidc_device WHERE user_code=?", (user_code,)).fetchone() is None:
                break
        db.execute(
            "INSERT INTO oidc_device (device_code, user_code, client_id, vo, scope, expires) "
            "VALUES (?,?,?,?,?,?)",
            (device_code, user_code, client_id, vo, scope, ctx.now() + DEVICE_CODE_SECONDS),
        )
    return {"device_code": device_code, "user_code": user_code, "expires_in": DEVICE_CODE_SECONDS}


def pending_code(ctx: SandboxContext, user_code: str) -> Any:
    with ctx.db() as db:
        return db.execute(
            "SELECT * FROM oidc_device WHERE user_code=? AND status='pending' AND expires >= ?",
            (user_code.strip().upper(), ctx.now()),
        ).fetchone()


def decide(
    ctx: SandboxContext, user_code: str, username: str | None, approve: bool, vo: str | None = None
) -> Any:
    """Approve (for `username`) or deny a pending code; the row as it was, or None when there is none."""
    row = pending_code(ctx, user_code)
    if row is None or (vo is not None and row["vo"] != vo):
        return None
    with ctx.db() as db:
        db.execute(
            "UPDATE oidc_device SET status=?, username=? WHERE device_code=? AND status='pending'",
            ("approved" if approve else "denied", username, row["device_code"]),
        )
    return row


def active_account(ctx: SandboxContext, vo: str, username: str) -> Any:
    with ctx.db() as db:
        return db.execute(
            "SELECT * FROM iam_request WHERE vo=? AND username=? AND active=1", (vo, username)
        ).fetchone()


def account_of_certificate(ctx: SandboxContext, vo: str, subject: str, issuer: str) -> Any:
    with ctx.db() as db:
        return db.execute(
            "SELECT r.* FROM iam_x509 x JOIN iam_request r ON r.vo=x.vo AND r.username=x.username "
            "WHERE x.vo=? AND x.subject=? AND x.issuer=? AND r.active=1",
            (vo, subject, issuer),
        ).fetchone()


def new_refresh_token(ctx: SandboxContext, client_id: str, vo: str, username: str, scope: str) -> str:
    token = secrets.token_urlsafe(48)
    with ctx.db() as db:
        db.execute(
            "INSERT INTO oidc_refresh (token_hash, client_id, vo, username, scope, expires) "
            "VALUES (?,?,?,?,?,?)",
            (digest(token), client_id, vo, username, scope, ctx.now() + REFRESH_SECONDS),
        )
    return token


def refresh_grant(ctx: SandboxContext, client_id: str, vo: str, token: str) -> Any:
    with ctx.db() as db:
        return db.execute(
            "SELECT * FROM oidc_refresh WHERE token_hash=? AND client_id=? AND vo=? AND expires >= ?",
            (digest(token), client_id, vo, ctx.now()),
        ).fetchone()
