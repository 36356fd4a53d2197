"""The IAM administrator's side: pending requests, approve, reject, link a certificate to an account."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from onboard.sandbox.iam.model import dto

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext


def pending(ctx: SandboxContext, vo: str | None = None) -> list[dict[str, Any]]:
    with ctx.db() as db:
        rows = db.execute(
            "SELECT * FROM iam_request WHERE status IN ('NEW','CONFIRMED')"
            + (" AND vo=?" if vo else "")
            + " ORDER BY creation_time",
            (vo,) if vo else (),
        ).fetchall()
    return [{**dto(r), "vo": r["vo"]} for r in rows]


def _base_for(ctx: SandboxContext, vo: str) -> str:
    port = ctx.settings.ports.get("open") or ctx.settings.port_for("open")
    return f"https://{ctx.settings.hostname}:{port}/iam/{vo}"


def approve(ctx: SandboxContext, rid: str) -> dict[str, Any]:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM iam_request WHERE uuid=?", (rid,)).fetchone()
        if row is None or row["status"] not in ("NEW", "CONFIRMED"):
            raise ValueError(f"no pending IAM request {rid}")
        key = secrets.token_urlsafe(24)
        db.execute(
            "UPDATE iam_request SET status='APPROVED', active=1, reset_key=?, last_update=? WHERE uuid=?",
            (key, ctx.now(), rid),
        )
    vo = row["vo"]
    ctx.mail.send(
        row["email"],
        f"[{vo} IAM] Your {vo} account is now active",
        f"Dear {row['givenname']} {row['familyname']},\n\nyour registration request has been approved.\n\n"
        f"The username for your account is:\n\n{row['username']}\n\nYou can set your local {vo} password "
        f"by following this link:\n\n{_base_for(ctx, vo)}/iam/password-reset/token/{key}\n\n"
        "Note that this step is not needed if you are using an external identity provider to "
        f"authenticate.\n\nThe {vo} registration service\n",
    )
    return {**dto(row), "status": "APPROVED"}


def reject(ctx: SandboxContext, rid: str, motivation: str = "", send_email: bool = True) -> None:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM iam_request WHERE uuid=?", (rid,)).fetchone()
        if row is None or row["status"] not in ("NEW", "CONFIRMED"):
            raise ValueError(f"no pending IAM request {rid}")
        db.execute("DELETE FROM iam_request WHERE uuid=?", (rid,))  # IAM deletes the account
    if send_email:
        vo = row["vo"]
        why = (
            # requestRejected.ftl's wording, line break included
            "\n\nThe administrator has provided the following motivation in support of\nhis decision:"
            f"\n\n{motivation}\n"
            if motivation
            else "\n"
        )
        ctx.mail.send(
            row["email"],
            f"[{vo} IAM] Your request for a {vo} account has been rejected",
            f"Dear {row['givenname']} {row['familyname']},\n\nyour membership request for {vo} has been "
            f"REJECTED.{why}\nThe {vo} registration service\n",
        )
