"""Orientation sessions: `onboard sandbox board` (the instructor's live board) and `onboard sandbox join`
(a trainee joins the instructor's sandbox): two actions of `onboard sandbox` (the table in
onboard/commands/sandbox/__init__.py) whose work is in onboard/orientation/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _board_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--live", action="store_true", help="refresh every 2 s until Ctrl-C")
    p.add_argument("--web", action="store_true",
                   help="the board as a web page for the projector: print its link, with a new instructor "
                        "token (shown once; the old link and its sessions stop working)")


def _board(args: argparse.Namespace, directory: Path) -> int:
    from onboard.commands.sandbox import load
    from onboard.errors import Exit
    from onboard.orientation import board

    sb = load(directory)
    if args.web:
        return _board_web(args, sb)
    if args.live:
        board.live(directory)
        return Exit.OK
    rows = board.rows(directory)
    print(json.dumps(board.as_json(rows), indent=2) if args.json else board.render(rows))
    return Exit.OK


def _board_web(args: argparse.Namespace, sb) -> int:
    from onboard.errors import Exit
    from onboard.sandbox.board import access

    token = access.new_token(sb.ctx)
    s = sb.settings
    url = f"https://{s.hostname}:{s.port_for('open')}/board#{token}"
    if args.json:
        print(json.dumps({"url": url}))
        return Exit.OK
    print("The board page, for your browser (the link holds your instructor token: do not project it or "
          "share it; a new `board --web` ends it):")
    print(f"  {url}")
    print(f"Your browser must trust the sandbox CA ({sb.ctx.ca.bundle_path}): import it as an authority "
          "once.")
    return Exit.OK


def _seats_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("count", type=int, help="how many seats (one per trainee)")
    p.add_argument("--json", action="store_true", help="the tokens as a JSON list")


def _seats(args: argparse.Namespace, directory: Path) -> int:
    from onboard.commands.sandbox import load
    from onboard.errors import Exit, UsageError
    from onboard.sandbox import seats

    sb = load(directory)
    try:
        tokens = seats.make(sb.ctx, args.count)
    except seats.SeatError as e:
        raise UsageError(f"{e}.", "Ask for fewer seats.") from None
    if args.json:
        print(json.dumps(tokens))
        return Exit.OK
    print(f"{len(tokens)} seat token(s): hand one to each trainee (they are shown only now):")
    for t in tokens:
        print(f"  {t}")
    print("A trainee joins with: onboard sandbox join URL --fingerprint ... --token TOKEN")
    return Exit.OK


def _join_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="the sandbox's address the instructor shows, e.g. https://host:8444")
    p.add_argument("--fingerprint", required=True, metavar="HEX",
                   help="the sandbox CA's fingerprint the instructor reads aloud (at least 16 hex digits)")
    p.add_argument("--token", metavar="SEAT",
                   help="your seat's token, from the instructor (e.g. 7KQM-X2PD-9FHT; default: ask)")
    p.add_argument("--name", help="your full name (default: ask)")
    p.add_argument("--email", help="your e-mail address (default: ask)")
    p.add_argument("--trust-dir", metavar="DIR",
                   help="where to install the sandbox's trust anchor (default: onboard's data dir)")
    p.add_argument("--config-file", metavar="FILE", help="where to write the configuration (default: the "
                                                         "usual one)")


def _join(args: argparse.Namespace, directory: Path) -> int:
    from onboard import paths
    from onboard.errors import Exit
    from onboard.orientation import join
    from onboard.ui import UI

    ui = UI(quiet=getattr(args, "quiet", False))
    ui.explain("The first contact with the sandbox cannot be checked by a CA you trust: it is checked by the "
               "fingerprint your instructor reads aloud instead.")
    joined = join.fetch(args.url, args.fingerprint)
    token = args.token or ui.ask("Your seat token (from the instructor)", flag="--token")
    join.check_token(token)
    ui.say(f"✓ the sandbox at {joined.server} has the fingerprint you typed, and its server certificate is "
           "issued under it.")
    name = args.name or ui.ask("Your full name", flag="--name")
    email = args.email or ui.ask("Your e-mail address", flag="--email")
    given, _, family = name.strip().rpartition(" ")
    user = {"given_name": given or family, "family_name": family if given else "", "email": email}
    host = joined.server.replace(":", "-")
    trust_dir = (Path(args.trust_dir).expanduser() if args.trust_dir
                 else paths.data_dir() / f"sandbox-{host}" / "certificates")
    target = Path(args.config_file).expanduser() if args.config_file else (
        Path(args.config).expanduser() if getattr(args, "config", None) else paths.config_file())
    submit = joined.config.get("submit_host")
    if submit:
        identity, public = join.ensure_ssh_key(Path.home(), paths.data_dir())
        ssh_user = join.ssh_user_for(email)
        submit["user"] = ssh_user
        if identity is not None:
            submit["identity_file"] = str(identity)
    join.claim_seat(joined, args.url, token, name.strip(), email)
    ui.say("✓ your seat at the sandbox is yours")
    if submit:
        ssh_user = submit["user"] = join.register_ssh_key(joined, args.url, ssh_user, public, token)
        ui.say(f"✓ the sandbox's submit host lets your SSH key in as {ssh_user}")
    token_file = join.keep_token(token, trust_dir.parent / "seat-token")
    path, backup = join.install(joined, trust_dir=trust_dir, config_path=target, user=user,
                                token_file=token_file)
    ui.say(f"✓ installed the sandbox's trust anchor in {trust_dir}")
    kept = f" (the old one is kept as {backup})" if backup else ""
    ui.say(f"✓ wrote your configuration to {path}{kept}")
    vo = joined.config.get("vo", "")
    ui.say(f"Now: onboard start --vo {vo}" if vo else "Now: onboard start --vo VO")
    return Exit.OK


# action -> (add its arguments, run it); onboard/commands/sandbox/__init__.py names the module of each action
ACTIONS = {
    "board": (_board_arguments, _board),
    "seats": (_seats_arguments, _seats),
    "join": (_join_arguments, _join),
}
