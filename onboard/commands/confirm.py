"""onboard confirm URL: open a confirmation link by hand, with the same checks as the mail reader.

For when onboard cannot read the mailbox (mail.kind = "none") or the mail went elsewhere: the user pastes
the link. It is opened only if it points at this journey's registration server (scheme, host, port, the
VO's path); anything else is refused with exit code 24 and never contacted.
"""

from __future__ import annotations

import argparse

from onboard import app
from onboard.errors import Exit, StateError


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL", help="the confirmation link from the VO's mail")
    p.add_argument("--vo", help="the VO of the journey (default: the only journey)")
    p.add_argument("--passphrase-file", metavar="F", help="file whose first line is the key's passphrase")
    p.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from onboard import registration
    from onboard.registration import flow
    from onboard.ui import UI

    with app.journey(args) as (st, cfg, vo, record):
        options = {
            "passphrase_file": Path(args.passphrase_file) if args.passphrase_file else None,
            "passphrase_stdin": args.passphrase_stdin,
        }
        run_ = app.Run(cfg, st, UI(quiet=args.quiet), record, options)
        engine = run_.engine()
        ctx = engine.ctx
        try:
            registrar = registration.get(flow.kind(ctx))
            registrar.check_link(args.url, flow.server_url(ctx))  # first: an unsafe link is never opened
            states = {s.rsplit("/", 1)[-1] for s in record.states()}
            if "register" in states or not ({"confirm_email", "await_approval"} & states or record.completed):
                raise StateError(
                    f"the journey for VO {vo} has not sent its registration yet.",
                    f"Run `onboard resume --vo {vo}` first; it registers, then waits for this link.",
                )
            if flow.extra(ctx).get("registration") in ("confirmed", "member"):
                ctx.ui.say(f"The request for VO {vo} is confirmed already; nothing to do.")
                return Exit.OK
            ctx.state = "confirm_email"
            registrar.confirm(ctx, args.url)
            # a guiding registrar only shows the link: the click in the browser is not seen
            by_hand = "confirm-link-shown" if registrar.mode.value == "guides" else "confirm-by-hand"
            st.save(record)
            st.append_history(
                vo,
                **{
                    "from": "confirm_email",
                    "to": "confirm_email",
                    "trigger": by_hand,
                    "outcome": "ok",
                    "error": None,
                },
            )
        finally:
            ctx.close()
    ctx.ui.say(f"Next: `onboard resume --vo {vo}` goes on to wait for the VO administrators.")
    return Exit.OK
