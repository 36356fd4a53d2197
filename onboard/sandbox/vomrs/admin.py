"""The VOMRS representative's side: registrations waiting for a decision, approve, deny."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext


def pending(ctx: SandboxContext, vo: str | None = None) -> list[dict[str, Any]]:
    with ctx.db() as db:
        rows = db.execute(
            "SELECT * FROM vomrs_member WHERE status='New'" + (" AND vo=?" if vo else "") + " ORDER BY id",
            (vo,) if vo else (),
        ).fetchall()
    return [dict(r) for r in rows]


def _decide(ctx: SandboxContext, member_id: int, status: str, reason: str = "") -> dict[str, Any]:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM vomrs_member WHERE id=?", (member_id,)).fetchone()
        if row is None or row["status"] != "New":
            raise ValueError(f"no VOMRS registration {member_id} waiting for a decision")
        db.execute(
            "UPDATE vomrs_member SET status=?, phase=?, reason=? WHERE id=?",
            (status, "member" if status == "Approved" else row["phase"], reason, member_id),
        )
    word = "approved" if status == "Approved" else "denied"
    why = f"\nReason: {reason}\n" if reason else ""
    ctx.mail.send(
        row["email"],
        f"[VOMRS] VO {row['vo']}: your membership has been {word}",
        f"Dear {row['first_name']} {row['last_name']},\n\nyour membership of VO {row['vo']} has been "
        f"{word}.\n{why}\nVOMRS for VO {row['vo']}\n",
    )
    return dict(row)


def approve(ctx: SandboxContext, member_id: int) -> dict[str, Any]:
    return _decide(ctx, member_id, "Approved")


def deny(ctx: SandboxContext, member_id: int, reason: str = "") -> dict[str, Any]:
    return _decide(ctx, member_id, "Denied", reason)
