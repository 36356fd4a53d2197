"""`onboard sandbox requests|approve|reject` (VOMS-Admin), `iam-requests|iam-approve|iam-reject|iam-link`
and `vomrs-requests|vomrs-approve|vomrs-deny`: what a VO's administrators do with the registration
requests of the sandbox's three registration services. They work on the sandbox's database, whether or
not its servers run (see onboard/commands/sandbox/__init__.py for the table of actions)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from onboard.commands.sandbox import load
from onboard.errors import Exit, SandboxError, UsageError

# -- VOMS-Admin -----------------------------------------------------------------------------------------


def _requests_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.add_argument("--vo", help="only this VO")


def _approve_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--vo", help="only this VO")
    a.add_argument(
        "ids", nargs="*", type=int, metavar="ID", help="request ids (see `onboard sandbox requests`)"
    )
    a.add_argument("--all", action="store_true", help="every request waiting for approval")


def _reject_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("id", type=int, metavar="ID")
    a.add_argument("--reason", help="told to the user in the rejection e-mail")


def _fmt_time(ts) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _requests(args: argparse.Namespace, directory: Path) -> int:
    sb = load(directory)
    rows = sb.requests(args.vo)
    if args.json:
        print(json.dumps(rows, indent=2))
        return Exit.OK
    if not rows:
        print("no registration requests.")
        return Exit.OK
    print(f"{'ID':>4}  {'VO':<12} {'STATE':<10} {'SUBMITTED':<16}  {'E-MAIL':<28} SUBJECT")
    for r in rows:
        print(
            f"{r['request_id']:>4}  {r['vo']:<12} {r['status']:<10} {_fmt_time(r['creation_date']):<16}  "
            f"{r['email']:<28} {r['subject']}"
        )
    return Exit.OK


def _approve(args: argparse.Namespace, directory: Path) -> int:
    sb = load(directory)
    ids = list(args.ids)
    if args.all:
        ids += [r["request_id"] for r in sb.requests(args.vo) if r["status"] in ("CONFIRMED", "PENDING")]
    if not ids:
        raise UsageError("nothing to approve.", "Give request ids or --all (see `onboard sandbox requests`).")
    failures: list[tuple[int, SandboxError]] = []
    for rid in dict.fromkeys(ids):  # one request that cannot be approved does not stop the others
        try:
            row = sb.approve(rid)
            print(f"approved request {rid}: {row['subject']} is a member of /{row['vo']}")
        except SandboxError as e:
            failures.append((rid, e))
    if failures:
        raise SandboxError(
            "; ".join(f"request {rid}: {e.message}" for rid, e in failures),
            " ".join(dict.fromkeys(e.hint for _, e in failures if e.hint)) or None,
        )
    return Exit.OK


def _reject(args: argparse.Namespace, directory: Path) -> int:
    sb = load(directory)
    row = sb.reject(args.id, args.reason)
    print(f"rejected request {args.id} ({row['subject']}); it is deleted and {row['email']} is told.")
    return Exit.OK


# -- IAM and VOMRS --------------------------------------------------------------------------------------


def _pending_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--vo", help="only this VO")
    a.add_argument("--json", action="store_true", help="machine-readable output")


def _iam_id_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("uuid", metavar="UUID", help="the request's id (see `onboard sandbox iam-requests`)")


def _iam_reject_arguments(a: argparse.ArgumentParser) -> None:
    _iam_id_arguments(a)
    a.add_argument("--reason", default="", help="told to the user in the rejection e-mail")


def _iam_link_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("vo", metavar="VO")
    a.add_argument("username", metavar="USERNAME", help="the IAM account")
    a.add_argument("subject", metavar="SUBJECT", help="the certificate's subject, slash form")
    a.add_argument("issuer", metavar="ISSUER", help="its issuer, slash form")


def _vomrs_id_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("id", type=int, metavar="ID", help="the registration number (see `vomrs-requests`)")


def _vomrs_deny_arguments(a: argparse.ArgumentParser) -> None:
    _vomrs_id_arguments(a)
    a.add_argument("--reason", default="", help="told to the applicant in the e-mail")


def _context(directory: Path, schema: str):
    """The sandbox's context with the imitation's tables there (an instructor may ask before any request)."""
    ctx = load(directory).ctx
    ctx.create_tables(schema)
    return ctx


def _refused(e: ValueError, listing: str) -> SandboxError:
    return SandboxError(f"{e}.", f"See `onboard sandbox {listing}` for the requests waiting.")


def _print_pending(rows: list[dict[str, Any]], as_json: bool, columns: list[tuple[str, str]]) -> int:
    if as_json:
        print(json.dumps(rows, indent=2))
        return Exit.OK
    if not rows:
        print("no requests waiting.")
        return Exit.OK
    print("  ".join(title for title, _ in columns))
    for r in rows:
        print("  ".join(str(r.get(key) or "-") for _, key in columns))
    return Exit.OK


def _iam_requests(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import iam
    from onboard.sandbox.iam.model import SCHEMA

    rows = iam.pending(_context(directory, SCHEMA), args.vo)
    return _print_pending(rows, args.json, [("UUID", "uuid"), ("VO", "vo"), ("STATE", "status"),
                                            ("USERNAME", "username"), ("E-MAIL", "email")])


def _iam_approve(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import iam
    from onboard.sandbox.iam.model import SCHEMA

    try:
        row = iam.approve(_context(directory, SCHEMA), args.uuid)
    except ValueError as e:
        raise _refused(e, "iam-requests") from None
    print(f"approved IAM request {args.uuid}: account {row.get('username')} is active; {row.get('email')} "
          "is told how to set a password.")
    return Exit.OK


def _iam_reject(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import iam
    from onboard.sandbox.iam.model import SCHEMA

    try:
        iam.reject(_context(directory, SCHEMA), args.uuid, args.reason)
    except ValueError as e:
        raise _refused(e, "iam-requests") from None
    print(f"rejected IAM request {args.uuid}; the account is deleted and the requester is told.")
    return Exit.OK


def _iam_link(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import iam
    from onboard.sandbox.iam.model import SCHEMA

    try:
        iam.link_certificate(_context(directory, SCHEMA), args.vo, args.username, args.subject, args.issuer)
    except ValueError as e:
        raise SandboxError(f"{e}.", "Unlink it from the other account first.") from None
    print(f"linked {args.subject} to the IAM account {args.username} of {args.vo}.")
    return Exit.OK


def _vomrs_requests(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import vomrs
    from onboard.sandbox.vomrs.routes import SCHEMA

    rows = vomrs.pending(_context(directory, SCHEMA), args.vo)
    return _print_pending(rows, args.json, [("ID", "id"), ("VO", "vo"), ("PHASE", "phase"),
                                            ("E-MAIL", "email"), ("SUBJECT", "subject")])


def _vomrs_decide(args: argparse.Namespace, directory: Path, approve: bool) -> int:
    from onboard.sandbox import vomrs
    from onboard.sandbox.vomrs.routes import SCHEMA

    ctx = _context(directory, SCHEMA)
    try:
        row = vomrs.approve(ctx, args.id) if approve else vomrs.deny(ctx, args.id, args.reason)
    except ValueError as e:
        raise _refused(e, "vomrs-requests") from None
    word = "approved" if approve else "denied"
    print(f"{word} VOMRS registration {args.id} ({row['subject']}); {row['email']} is told.")
    return Exit.OK


def _vomrs_approve(args: argparse.Namespace, directory: Path) -> int:
    return _vomrs_decide(args, directory, approve=True)


def _vomrs_deny(args: argparse.Namespace, directory: Path) -> int:
    return _vomrs_decide(args, directory, approve=False)


# action -> (add its arguments, run it); onboard/commands/sandbox/__init__.py names the module of each action
ACTIONS = {
    "requests": (_requests_arguments, _requests),
    "approve": (_approve_arguments, _approve),
    "reject": (_reject_arguments, _reject),
    "iam-requests": (_pending_arguments, _iam_requests),
    "iam-approve": (_iam_id_arguments, _iam_approve),
    "iam-reject": (_iam_reject_arguments, _iam_reject),
    "iam-link": (_iam_link_arguments, _iam_link),
    "vomrs-requests": (_pending_arguments, _vomrs_requests),
    "vomrs-approve": (_vomrs_id_arguments, _vomrs_approve),
    "vomrs-deny": (_vomrs_deny_arguments, _vomrs_deny),
}
