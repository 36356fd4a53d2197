"""The second year in the sandbox's IAM: an account suspended (disabled) and an AUP signature that lapsed,
answered by its VOMS-AA as indigo-iam/iam's iam-voms-aa does: VOMSAAImpl.checkMembershipValidity
refuses an account that is not active with "User '<DN>, <CA>' is not active." (SuspendedUser), and
VOMSController refuses one that needs to sign the AUP with "User <username> needs to sign AUP for this
organization in order to proceed." (FailedToSignAup), both as an <error> with the legacy code 1004 in
an answer whose HTTP status the controller leaves at 200 (VOMSResponseBuilderImpl.createErrorResponse)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onboard.errors import SandboxError

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_lapse (
    vo TEXT NOT NULL, username TEXT NOT NULL, suspended INTEGER NOT NULL DEFAULT 0,
    aup_lapsed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (vo, username)
)
"""
LEGACY_CODE = "1004"  # VOMSError.SuspendedUser and FailedToSignAup


def _set(ctx: SandboxContext, vo: str, username: str, **state: int) -> None:
    ctx.create_tables(SCHEMA)
    with ctx.db() as db:
        if db.execute("SELECT 1 FROM iam_request WHERE vo=? AND username=? AND status='APPROVED'",
                      (vo, username)).fetchone() is None:
            raise SandboxError(f"no IAM account {username} in {vo}.",
                               "See `onboard sandbox iam-requests`; only approved accounts can lapse.")
        db.execute("INSERT OR IGNORE INTO iam_lapse (vo, username) VALUES (?,?)", (vo, username))
        for column, value in state.items():  # column names from this module only
            db.execute(f"UPDATE iam_lapse SET {column}=? WHERE vo=? AND username=?", (value, vo, username))
        ctx.event(db, f"iam-{'-'.join(f'{k}={v}' for k, v in state.items())}", vo, None, username)


def suspend(ctx: SandboxContext, vo: str, username: str) -> None:
    _set(ctx, vo, username, suspended=1)


def restore(ctx: SandboxContext, vo: str, username: str) -> None:
    _set(ctx, vo, username, suspended=0)


def aup_lapsed(ctx: SandboxContext, vo: str, username: str, lapsed: bool = True) -> None:
    _set(ctx, vo, username, aup_lapsed=int(lapsed))


def refusal(ctx: SandboxContext, vo: str, username: str, dn: str, ca: str) -> tuple[str, str] | None:
    """The VOMS-AA's refusal for this account, or None: suspension first (the AA checks it before the
    AUP, as upstream's order is)."""
    ctx.create_tables(SCHEMA)
    with ctx.db() as db:
        row = db.execute("SELECT * FROM iam_lapse WHERE vo=? AND username=?", (vo, username)).fetchone()
    if row is None:
        return None
    if row["suspended"]:
        return LEGACY_CODE, f"User '{dn}, {ca}' is not active."
    if row["aup_lapsed"]:
        return LEGACY_CODE, f"User {username} needs to sign AUP for this organization in order to proceed."
    return None
