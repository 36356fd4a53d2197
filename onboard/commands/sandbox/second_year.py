"""`onboard sandbox cert-requests|cert-approve|cert-reject|ca-switch`: the second year in a session.

A member's request to add a new certificate to the membership (VOMS-Admin's certificate request, see
onboard/sandbox/voms_admin/cert_requests.py), decided by the instructor as a VO administrator; and the CA
switch (onboard/sandbox/ca_switch.py): a second personal CA, "the new TCS", issues from then on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from onboard.commands.sandbox import load
from onboard.errors import Exit, SandboxError, UsageError


def _context(directory: Path):
    from onboard.sandbox.voms_admin import cert_requests

    ctx = load(directory).ctx
    cert_requests.ensure(ctx)
    return ctx


def _list_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--vo", help="only this VO")
    a.add_argument("--json", action="store_true", help="machine-readable output")


def _ids_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("ids", type=int, nargs="*", metavar="ID")
    a.add_argument("--all", action="store_true", help="every SUBMITTED certificate request")
    a.add_argument("--vo", help="with --all: only this VO")


def _switch_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--transliterate", action="store_true",
                   help="the new CA writes names in ASCII (Müller becomes Mueller): a new subject too")
    a.add_argument("--back", action="store_true", help="the first CA issues again")


def _list(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.voms_admin import cert_requests

    rows = cert_requests.pending(_context(directory), args.vo)
    if args.json:
        print(json.dumps(rows, indent=2))
        return Exit.OK
    if not rows:
        print("no certificate requests.")
    for r in rows:
        print(f"{r['request_id']:>4}  {r['vo']:<12} {r['status']:<10} {r['email']:<28} {r['subject']}  "
              f"(issuer {r['issuer']}; member as {r['member_subject']})")
    return Exit.OK


def _decide(args: argparse.Namespace, directory: Path, approve: bool) -> int:
    from onboard.sandbox.voms_admin import cert_requests

    ctx = _context(directory)
    ids = list(args.ids)
    if args.all:
        ids += [r["request_id"] for r in cert_requests.pending(ctx, args.vo) if r["status"] == "SUBMITTED"]
    if not ids:
        raise UsageError("no certificate request named.",
                         "Give ids or --all (see `onboard sandbox cert-requests`).")
    failures = []
    for rid in dict.fromkeys(ids):
        try:
            row = cert_requests.approve(ctx, rid) if approve else cert_requests.reject(ctx, rid)
            word = "added to the membership of" if approve else "not added to"
            print(f"certificate request {rid}: {row['subject']} {word} {row['member_subject']} "
                  f"in {row['vo']}")
        except SandboxError as e:
            failures.append(f"request {rid}: {e.message}")
    if failures:
        raise SandboxError("; ".join(failures), "See `onboard sandbox cert-requests`.")
    return Exit.OK


def _switch(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import ca_switch

    subject = ca_switch.switch(load(directory).ctx.ca, transliterate_names=args.transliterate, back=args.back)
    print(f"personal certificates are issued by {subject} from now on"
          + (" (names in ASCII)" if args.transliterate and not args.back else ""))
    return Exit.OK


ACTIONS = {
    "cert-requests": (_list_arguments, _list),
    "cert-approve": (_ids_arguments, lambda a, d: _decide(a, d, True)),
    "cert-reject": (_ids_arguments, lambda a, d: _decide(a, d, False)),
    "ca-switch": (_switch_arguments, _switch),
}
