"""`onboard sandbox members|member-end|aup-resign|aup-sign|suspend|restore|lapses-due` and
`iam-suspend|iam-restore|iam-aup-lapse`: the second year,
played in a session. The instructor sets what lapses (an end date, an AUP to sign again, a suspension)
or lets it come due; the sandbox's VOMS-Admin shows it in `user-info` as upstream does, and a real
voms-server behind the sandbox refuses a suspended member (onboard/sandbox/voms_admin/lapses.py)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from onboard.commands.sandbox import load
from onboard.errors import Exit, UsageError

CODES = ("FAILED_TO_SIGN_AUP", "MEMBERSHIP_EXPIRATION", "SECURITY_INCIDENT", "OTHER", "HR_DB_VALIDATION")


def _when(ts) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _members_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--vo", help="only this VO's members")
    a.add_argument("--json", action="store_true", help="machine-readable output")


def _members(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    ctx = load(directory).ctx
    now = ctx.now()
    rows = []
    with ctx.db() as db:
        q = "SELECT * FROM usr" + (" WHERE vo=?" if args.vo else "") + " ORDER BY id"
        for u in db.execute(q, (args.vo,) if args.vo else ()):
            certs = [dict(c) for c in db.execute("SELECT subject, issuer FROM certificate WHERE usr_id=?",
                                                 (u["id"],))]
            rows.append({
                "id": u["id"], "vo": u["vo"], "email": u["email"], "end_time": u["end_time"],
                "suspended": bool(u["suspended"]), "suspension_reason": u["suspension_reason"],
                "suspension_code": lapses.suspension_code(db, u["id"]),
                "aup": lapses.aup_records(db, u["id"], now), "pending_task": lapses.pending_task(db, u["id"]),
                "certificates": certs,
            })
    if args.json:
        print(json.dumps(rows, indent=2))
        return Exit.OK
    if not rows:
        print("no members.")
        return Exit.OK
    print(f"{'ID':>4}  {'VO':<12} {'ENDS':<16}  {'STATE':<34} {'AUP':<22} SUBJECT")
    for r in rows:
        state = f"suspended ({r['suspension_code'] or 'OTHER'})" if r["suspended"] else "active"
        aup = "; ".join(("valid" if a["valid"] else "invalid") + f", {a['daysBeforeExpiration']} d left"
                        for a in r["aup"]) or "not signed"
        if r["pending_task"]:
            aup = f"sign by {r['pending_task']['expirationDate'][:10]}"
        subject = r["certificates"][0]["subject"] if r["certificates"] else "-"
        ends = _when(r["end_time"])
        print(f"{r['id']:>4}  {r['vo']:<12} {ends:<16}  {state[:34]:<34} {aup[:22]:<22} {subject}")
    return Exit.OK


def _id(a: argparse.ArgumentParser) -> None:
    a.add_argument("member", type=int, metavar="ID", help="the member's id (`onboard sandbox members`)")


def _end_arguments(a: argparse.ArgumentParser) -> None:
    _id(a)
    when = a.add_mutually_exclusive_group(required=True)
    when.add_argument("--in", dest="in_days", type=float, metavar="DAYS",
                      help="ends DAYS from now (negative: ended that long ago)")
    when.add_argument("--at", metavar="YYYY-MM-DD", help="ends on that day (00:00 UTC)")


def _end(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    ctx = load(directory).ctx
    if args.at:
        try:
            end = datetime.strptime(args.at, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise UsageError(f"--at {args.at!r} is not a date.", "Write it as YYYY-MM-DD.") from None
    else:
        end = ctx.now() + args.in_days * lapses.DAY
    lapses.set_end_time(ctx, args.member, end)
    print(f"member {args.member}: membership ends {_when(end)} UTC "
          f"(suspended {lapses.GRACE_DAYS} days after, by the membership check)")
    return Exit.OK


def _resign_arguments(a: argparse.ArgumentParser) -> None:
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument("member", type=int, metavar="ID", nargs="?", help="the member's id")
    who.add_argument("--all", action="store_true", help="every member of every VO (or of --vo)")
    a.add_argument("--vo", help="with --all: only this VO's members")
    a.add_argument("--days", type=float, default=15.0,
                   help="days the member has to sign (voms.aup.sign_aup_task_lifetime, default 15)")


def _resign(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    ctx = load(directory).ctx
    if args.days <= 0:
        raise UsageError("--days must be more than 0.", "Give the days a member has to sign, e.g. --days 1.")
    ids = [args.member] if not args.all else _ids(ctx, args.vo)
    for uid in ids:
        due = lapses.request_aup_signature(ctx, uid, args.days)
        print(f"member {uid}: AUP to sign again by {_when(due)} UTC (mail sent)")
    return Exit.OK


def _ids(ctx, vo: str | None) -> list[int]:
    with ctx.db() as db:
        q = "SELECT id FROM usr WHERE suspended=0" + (" AND vo=?" if vo else "") + " ORDER BY id"
        return [r["id"] for r in db.execute(q, (vo,) if vo else ())]


def _sign(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    lapses.sign_aup(load(directory).ctx, args.member)
    print(f"member {args.member}: AUP signed again")
    return Exit.OK


def _suspend_arguments(a: argparse.ArgumentParser) -> None:
    _id(a)
    a.add_argument("--reason", choices=CODES, default="OTHER",
                   help="VOMS-Admin's suspension reason (what voms-server tells the member)")


def _suspend(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    lapses.suspend(load(directory).ctx, args.member, args.reason)
    print(f"member {args.member}: suspended ({lapses.REASONS[args.reason]})")
    return Exit.OK


def _restore(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    lapses.restore(load(directory).ctx, args.member)
    print(f"member {args.member}: active again")
    return Exit.OK


def _due(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import lapses

    done = lapses.check_due(load(directory).ctx)
    for line in done or ["nothing came due."]:
        print(line)
    return Exit.OK


def _nothing(a: argparse.ArgumentParser) -> None:
    pass


def _iam_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("vo", help="the VO (its IAM)")
    a.add_argument("username", help="the IAM account")


def _iam_aup_arguments(a: argparse.ArgumentParser) -> None:
    _iam_arguments(a)
    a.add_argument("--signed", action="store_true", help="signed again: the VOMS-AA answers once more")


def _iam(action: str):
    def run(args: argparse.Namespace, directory: Path) -> int:
        from onboard.sandbox.iam import lapses as iam

        ctx = load(directory).ctx
        if action == "suspend":
            iam.suspend(ctx, args.vo, args.username)
        elif action == "restore":
            iam.restore(ctx, args.vo, args.username)
        else:
            iam.aup_lapsed(ctx, args.vo, args.username, lapsed=not args.signed)
        said = {"suspend": "suspended (the VOMS-AA: not active)", "restore": "active again",
                "aup": "AUP signed" if getattr(args, "signed", False) else "AUP signature lapsed"}[action]
        print(f"IAM account {args.username} of {args.vo}: {said}")
        return Exit.OK

    return run


ACTIONS = {
    "members": (_members_arguments, _members),
    "member-end": (_end_arguments, _end),
    "aup-resign": (_resign_arguments, _resign),
    "aup-sign": (_id, _sign),
    "suspend": (_suspend_arguments, _suspend),
    "restore": (_id, _restore),
    "lapses-due": (_nothing, _due),
    "iam-suspend": (_iam_arguments, _iam("suspend")),
    "iam-restore": (_iam_arguments, _iam("restore")),
    "iam-aup-lapse": (_iam_aup_arguments, _iam("aup")),
}
