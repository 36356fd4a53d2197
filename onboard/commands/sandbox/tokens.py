"""`onboard sandbox iam-device-approve CODE`: the instructor approves a device login for a trainee's account,
as an IAM administrator could (the trainee's own way is the /device page in a browser)."""

from __future__ import annotations

import argparse
from pathlib import Path

from onboard.commands.sandbox.requests import _context
from onboard.errors import Exit, SandboxError


def _arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("user_code", metavar="CODE", help="the code oidc-gen (or another device) shows")
    a.add_argument("username", metavar="USERNAME", help="the IAM account the tokens are for")
    a.add_argument("--vo", required=True, help="the VO whose IAM issued the code")
    a.add_argument("--deny", action="store_true", help="refuse the login instead")


def _approve(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.iam import oidc_model

    ctx = _context(directory, oidc_model.SCHEMA)
    if oidc_model.active_account(ctx, args.vo, args.username) is None:
        raise SandboxError(
            f"{args.vo}'s IAM has no active account {args.username}.", "See `onboard sandbox iam-requests`."
        )
    if oidc_model.decide(ctx, args.user_code, args.username, not args.deny, vo=args.vo) is None:
        raise SandboxError(
            f"no device login is waiting with the code {args.user_code} at {args.vo}'s IAM.",
            "Codes last ten minutes: start the login again (`onboard tokens --vo VO`).",
        )
    word = "denied" if args.deny else "approved"
    print(f"{word} the device login {args.user_code.upper()} for {args.username} at {args.vo}'s IAM.")
    return Exit.OK


ACTIONS = {"iam-device-approve": (_arguments, _approve)}
