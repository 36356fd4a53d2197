"""`onboard tokens --vo VO`: an oidc-agent account for the VO's token issuer, and a token checked.

The login is the device flow: the URL and code are printed (and the page opened when there is a
display); while the person has not approved it, onboard exits 75 and oidc-gen keeps waiting in the
background: run the same command again. `--verify FILE` checks a token from a file ("-": stdin) instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--vo", required=True, help="the VO (its catalog entry names the token issuer)")
    p.add_argument("--account", help="the oidc-agent account's short name (default: the VO's name)")
    p.add_argument(
        "--wait",
        type=int,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the login's approval before exiting 75 (default: 600 on a "
        "terminal, 0 otherwise)",
    )
    p.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is the password oidc-agent encrypts the account with "
        "(else a prompt on a terminal)",
    )
    p.add_argument("--verify", metavar="FILE", help="check the token in FILE ('-': standard input) and stop")
    p.add_argument(
        "--on-host",
        action="store_true",
        help="set the account up on the submit host too, over the SSH connection",
    )


def run(args: argparse.Namespace) -> int:
    from onboard import app, catalog
    from onboard.errors import Exit, NotImplementedStep, OnboardError, UsageError
    from onboard.ui import UI

    if args.on_host:
        raise NotImplementedStep("onboard tokens --on-host", "the account on the submit host")
    cfg = app.load_config(args)
    entry = catalog.lookup(args.vo, cfg)
    if entry is None:
        raise OnboardError(
            f"the VO {args.vo} is neither in the catalog nor in the configuration.",
            "See `onboard vos` for the VOs onboard knows.",
            exit_code=Exit.UNKNOWN_VO,
        )
    if not entry.token_issuer:
        raise UsageError(
            f"{args.vo} names no token issuer (it hands out no WLCG tokens that onboard knows of).",
            f"Set token_issuer in [vos.{args.vo}] of the configuration if it has one.",
        )
    ui = UI(quiet=args.quiet)
    from onboard.tokens import flow

    if args.verify:
        token = sys.stdin.read() if args.verify == "-" else _read(Path(args.verify))
        claims = flow.verify(cfg, entry, token)
    else:
        wait = args.wait if args.wait is not None else (600 if ui.interactive else 0)
        account = args.account or args.vo

        def password() -> str:
            from onboard.secrets import Secrets

            return Secrets(ui).get(
                "oidc_password",
                file=args.password_file,
                key="--password-file",
                prompt=f"Password to encrypt the oidc-agent account {account} with",
            )

        claims = flow.obtain(cfg, entry, ui, account=account, wait=wait, password=password)
    left = int(claims["exp"] - time.time())
    ui.say(
        f"token accepted: {claims.get('sub')} in {', '.join(claims.get('wlcg.groups', []))}, from "
        f"{claims.get('iss')}, {left // 60} minutes left"
    )
    return Exit.OK


def _read(path: Path) -> str:
    from onboard.errors import UsageError

    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(
            f"{path} cannot be read ({type(e).__name__}).", "Give a file holding one token."
        ) from None
