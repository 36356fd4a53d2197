"""`onboard sandbox up|down|status|serve|issue|config|authorize`: the instructor's grid, its life cycle and
what it hands out (see onboard/commands/sandbox/__init__.py for the table of actions)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from onboard.commands.sandbox import load
from onboard.errors import Exit, MissingInput, SandboxError, UsageError


def _up_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--bind", help="address to listen on (default 127.0.0.1: this machine only)")
    a.add_argument(
        "--hostname", help="name in URLs, e-mail links and host certificates (default localhost)"
    )
    a.add_argument(
        "--port-base",
        type=int,
        metavar="N",
        help="ports N (VOMS-Admin HTTPS), N+1 (HTTPS without client cert), N+2 (SSH); "
        "default 8443, the port VOMS-Admin's e-mail links name; 0 picks free ports",
    )
    a.add_argument(
        "--vo",
        action="append",
        metavar="NAME",
        help="a VO to serve (repeat for several; default: sandbox)",
    )
    a.add_argument(
        "--disable-ro-access-for-authenticated-clients",
        dest="no_read_access",
        action="append",
        metavar="NAME",
        help="serve VO NAME as voms-configure's option of that name does: apiv2/user-info then "
        "answers a certificate only about its own membership (repeatable)",
    )
    a.add_argument(
        "--cern-profile",
        action="append",
        metavar="NAME",
        help="serve VO NAME's IAM as CERN's (iam-login-service's `cern` profile): registration only after "
        "a login (the \"sandbox SSO — not CERN\"), the certificate linked from that session (repeatable)",
    )
    a.add_argument(
        "--auto-approve-after",
        type=float,
        metavar="SECONDS",
        help="approve confirmed requests by themselves after SECONDS (demos)",
    )
    a.add_argument(
        "--no-auto-approve", action="store_true", help="undo an earlier --auto-approve-after"
    )
    a.add_argument(
        "--on-approval",
        metavar="CMD",
        help="command run on approval with ONBOARD_SANDBOX_DN/_CA/_EMAIL/_VO in its "
        "environment ({dn} {ca} {email} {vo} in its arguments), e.g. `onboard sandbox "
        "voms-add-member --socket S --vo NAME` feeding a real voms-server (onboard.sandbox.voms_server)",
    )
    a.add_argument(
        "--on-status-change",
        metavar="CMD",
        help="command run for each certificate of a member suspended or restored (ONBOARD_DN, "
        "ONBOARD_CA_DN, ONBOARD_VO, ONBOARD_SANDBOX_SUSPENDED=1|0, _SUSPENSION_REASON in its environment), "
        "e.g. `onboard sandbox voms-set-status --socket S --vo NAME` for a real voms-server",
    )
    a.add_argument(
        "--request-lifetime",
        type=int,
        metavar="SECONDS",
        help="unconfirmed requests expire after this (default 604800, 7 days)",
    )
    a.add_argument(
        "--link-port",
        type=int,
        metavar="PORT",
        help="port named in e-mail links (default: the port it listens on; real VOMS-Admin: 8443)",
    )
    a.add_argument(
        "--smtp", metavar="HOST:PORT", help="send mail to this SMTP server instead of DIR/mail"
    )
    a.add_argument(
        "--group-manager",
        action="append",
        metavar='"NAME <EMAIL>"',
        help="a group manager the requester must choose at confirmation (repeatable)",
    )
    a.add_argument(
        "--group", action="append", metavar="NAME", help="a group below each VO's root (repeatable)"
    )
    a.add_argument(
        "--attribute-requests",
        action="store_true",
        help="ask for groups at confirmation (needs --group)",
    )
    a.add_argument(
        "--ssh-key",
        action="append",
        type=Path,
        metavar="FILE.pub",
        help="a trainee's public key the submit host accepts (repeatable)",
    )
    a.add_argument(
        "--ssh-user", metavar="NAME", help="account for --ssh-key (default: your login name)"
    )
    a.add_argument("--submit-host", choices=("auto", "sshd", "paramiko"),
                   help="the SSH submit host: sshd = Debian's OpenSSH with a Unix account per seat (needs "
                        "root), paramiko = the sandbox's own, each trainee confined by bubblewrap "
                        "(default auto: sshd when run as root)")
    a.add_argument("--seats", type=int, metavar="N", default=0,
                   help="make N seats and print their join tokens (also later: `onboard sandbox seats N`)")
    a.add_argument("--json", action="store_true", help="print the endpoints as JSON")


def _json_argument(a: argparse.ArgumentParser) -> None:
    a.add_argument("--json", action="store_true", help="machine-readable output")


def _no_arguments(a: argparse.ArgumentParser) -> None:
    pass


def _serve_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--ready-fd", type=int, metavar="N", help="write 'ready' or the error to this descriptor")


def _issue_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--name", required=True, help='the holder, e.g. "Jane Doe"')
    a.add_argument("--email", required=True, help="the holder's e-mail address (in the certificate)")
    a.add_argument(
        "--out", required=True, type=Path, metavar="FILE.p12", help="where to write it (new file)"
    )
    a.add_argument(
        "--legacy",
        action="store_true",
        help="RC2-40/3DES with a SHA-1 MAC, like Sectigo and browsers (default: AES-256)",
    )
    a.add_argument(
        "--passphrase-file", type=Path, metavar="F", help="file whose first line is the passphrase"
    )
    a.add_argument("--key-size", type=int, choices=(2048, 3072, 4096), default=2048)
    a.add_argument("--days", type=int, default=None, metavar="N",
                   help="valid for N days (default: a year): a short one lets a session rehearse the "
                   "certificate's end (`onboard check`, `onboard renew`)")


def _authorize_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("key", type=Path, metavar="KEY.pub", help="the trainee's OpenSSH public key file")
    a.add_argument(
        "--user", required=True, help="the trainee's account on the submit host (its home)"
    )


def _config_arguments(a: argparse.ArgumentParser) -> None:
    a.add_argument("--email", default="", help="the trainee's e-mail (their Maildir in the sandbox)")
    a.add_argument("--user", default="", help="the trainee's account on the submit host")
    a.add_argument("--vo", help="the VO (default: the first)")




def _up(args: argparse.Namespace, directory: Path) -> int:
    import getpass

    from onboard.sandbox import daemon
    from onboard.sandbox.manager import Sandbox
    from onboard.sandbox.settings import Settings

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "sandbox.json"
    settings = Settings.load(path) if path.exists() else Settings()
    if args.bind is not None:
        settings.bind = args.bind
    if args.hostname is not None:
        settings.hostname = args.hostname
    elif args.bind in ("0.0.0.0", "::") and settings.hostname == "localhost":
        import socket  # a classroom reaches the machine by its name: links and certificates must carry it

        settings.hostname = socket.getfqdn() or "localhost"
    elif args.bind and args.bind not in ("127.0.0.1", "localhost") and settings.hostname == "localhost":
        settings.hostname = args.bind
    if args.port_base is not None:
        if not (args.port_base == 0 or 1 <= args.port_base <= 65533):
            raise UsageError(
                f"--port-base {args.port_base} is not a port.", "Give 1..65533, or 0 for free ports."
            )
        settings.port_base = args.port_base
        settings.ports = {}
    if args.vo:
        settings.vos = list(dict.fromkeys(args.vo))
    if args.no_read_access:
        settings.no_read_access_vos = list(dict.fromkeys(args.no_read_access))
    elif args.vo:  # a VO no longer served keeps no setting
        settings.no_read_access_vos = [vo for vo in settings.no_read_access_vos if vo in settings.vos]
    if args.cern_profile:
        settings.cern_profile_vos = list(dict.fromkeys(args.cern_profile))
    elif args.vo:
        settings.cern_profile_vos = [vo for vo in settings.cern_profile_vos if vo in settings.vos]
    if args.auto_approve_after is not None:
        settings.auto_approve_after = args.auto_approve_after
    if args.no_auto_approve:
        settings.auto_approve_after = None
    if args.on_approval is not None:
        settings.on_approval = args.on_approval
    if args.on_status_change is not None:
        settings.on_status_change = args.on_status_change
    if args.request_lifetime is not None:
        settings.request_lifetime = args.request_lifetime
    if args.link_port is not None:
        settings.link_port = args.link_port or None
    if args.smtp is not None:
        settings.smtp = args.smtp
    if args.group_manager:
        settings.group_managers = [_manager(text) for text in args.group_manager]
    if args.group:
        settings.groups = list(dict.fromkeys(args.group))
    if args.attribute_requests:
        settings.enable_attribute_requests = True
    if args.submit_host:
        settings.submit_host = args.submit_host
    try:
        settings.check()
    except ValueError as e:
        raise UsageError(
            f"{e}.", "A VO name is letters, digits, '.', '-' and '_', and each VO named is served (--vo)."
        ) from None
    if daemon.running_pid(directory) is not None:
        raise SandboxError(
            f"the sandbox in {directory} is already running.",
            f"See `onboard sandbox status --dir {directory}`, or stop it with `onboard sandbox down`.",
        )
    settings.save(path)
    sb = Sandbox(directory, settings).prepare()  # the slow part (keys) here, in the foreground
    user = args.ssh_user or getpass.getuser()
    from onboard.sandbox.submit_host.keys import parse_key_lines

    keys = []
    for key_file in args.ssh_key or []:
        try:
            keys.append(key_file.expanduser().read_text(encoding="utf-8").strip().splitlines()[0])
            if not parse_key_lines(keys[-1]):
                raise ValueError("no OpenSSH key in it")
            sb.ssh_home(user)  # a valid user name
        except (OSError, IndexError, ValueError) as e:
            raise UsageError(
                f"{key_file}: not a usable public key ({e}).", "Give an OpenSSH .pub file."
            ) from None
    if args.seats:
        from onboard.sandbox import seats

        try:
            tokens = seats.make(sb.ctx, args.seats)
        except seats.SeatError as e:
            raise UsageError(f"{e}.", "Ask for fewer seats (--seats N).") from None
    else:
        tokens = []
    pid = daemon.up(directory)
    sb = Sandbox(directory)  # with the ports it really listens on
    for line in keys:  # once it runs: with root, the account is made now (a started sandbox clears leftovers)
        try:
            sb.authorize_ssh_key(user, line)
        except ValueError as e:
            raise SandboxError(f"the submit host did not take your key: {e}.",
                               "Choose another account with --ssh-user NAME.") from None
    ep = sb.endpoints()
    if args.json:
        print(json.dumps({"pid": pid, **ep, **({"seats": tokens} if tokens else {})}, indent=2))
        return Exit.OK
    print(f"onboard sandbox running (pid {pid}) in {directory}")
    _print_endpoints(ep)
    if tokens:
        print(f"  seat tokens (one per trainee, shown only now): {'  '.join(tokens)}")
    print(
        "\n# A ready-made onboard configuration (also: `onboard sandbox config --email ADDRESS --user NAME`):"
    )
    print(sb.config_toml(email="", ssh_user=user if args.ssh_key else ""))
    print(f"# The board for the projector: onboard sandbox board --web --dir {directory}")
    print(f"# Stop it with: onboard sandbox down --dir {directory}")
    return Exit.OK


def _manager(text: str) -> dict[str, str]:
    import re

    m = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*", text)
    if not m or not m.group(1):
        raise UsageError(
            f"--group-manager '{text}' is not \"Name <address>\".", 'Write it as "Mario Rossi <m@x.org>".'
        )
    return {"name": m.group(1), "email": m.group(2), "description": ""}


def _print_endpoints(ep: dict) -> None:
    for vo, info in ep["vos"].items():
        print(f"  VO {vo}: registration {info['registration']}")
        print(f"        vomses {info['vomses']}")
    if ep.get("open"):
        print(f"  HTTPS without client certificate: {ep['open']}")
    print(f"  trust directory (X509_CERT_DIR): {ep['trust_dir']}")
    print(f"  mail: {ep['mail']}  (a Maildir per recipient address)")
    print(f"  e-mail links name port {ep['link_port']}")
    if ep.get("ssh"):
        s = ep["ssh"]
        print(f"  submit host: ssh -p {s['port']} USER@{s['host']}  homes in {s['homes']}")
        print(f"  submit host key fingerprint: {s['fingerprint']}")
    if ep.get("open") and ep.get("root_sha256"):
        print(f'  trainees join with: onboard sandbox join {ep["open"]} --fingerprint "{ep["root_sha256"]}"')
        print("    (read the fingerprint aloud; the first four groups are enough to type)")


def _down(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import daemon
    from onboard.sandbox.settings import Settings

    pid = daemon.down(directory)
    if pid is None:
        print(f"no sandbox was running in {directory}.")
        return Exit.OK
    ports = []
    if (directory / "sandbox.json").exists():
        ports = list(Settings.load(directory / "sandbox.json").ports.values())
    still = daemon.listening_ports(ports)
    if still:
        raise SandboxError(
            f"the sandbox (pid {pid}) stopped, but ports {still} still listen.",
            "Another program holds them; see `ss -ltnp`.",
        )
    print(f"onboard sandbox stopped (pid {pid}); nothing listens on its ports {sorted(ports)} any more.")
    return Exit.OK


def _status(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import daemon

    if not (directory / "sandbox.json").exists():
        if args.json:
            print(json.dumps({"running": False, "dir": str(directory)}))
        else:
            print(f"no sandbox in {directory} (start one with `onboard sandbox up`).")
        return Exit.OK
    sb = load(directory)
    pid = daemon.running_pid(directory)
    counts: dict[str, int] = {}
    for r in sb.requests():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    members = len(sb.members())
    if args.json:
        print(
            json.dumps(
                {
                    "running": pid is not None,
                    "pid": pid,
                    **sb.endpoints(),
                    "requests": counts,
                    "members": members,
                },
                indent=2,
            )
        )
        return Exit.OK
    print(f"onboard sandbox in {directory}: " + (f"running (pid {pid})" if pid else "stopped"))
    if pid:
        _print_endpoints(sb.endpoints())
    waiting = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    print(f"  requests: {waiting}; members: {members}")
    return Exit.OK


def _read_passphrase(args: argparse.Namespace) -> bytes:
    from onboard import secrets
    from onboard.ui import UI

    if args.passphrase_file:
        value = secrets.from_file(args.passphrase_file.expanduser(), "passphrase")
    else:
        if not sys.stdin.isatty():
            raise MissingInput("the passphrase of the new PKCS#12", flag="--passphrase-file")
        value = secrets.Secrets(UI()).new_passphrase(
            "Passphrase for the new certificate's PKCS#12 (12+ characters)"
        )
    if not value:
        raise UsageError(
            "the passphrase is empty.", "A PKCS#12 without a passphrase leaves the key unprotected."
        )
    return value.encode("utf-8")


def _issue(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox.ca import CAError
    from onboard.sandbox.manager import Sandbox

    out = args.out.expanduser()
    if out.exists() or out.is_symlink():
        raise UsageError(
            f"{out} exists already.", "Choose another --out; onboard never overwrites a credential."
        )
    if args.days is not None and not 1 <= args.days <= 3650:
        raise UsageError(f"--days {args.days} is out of range.", "Give 1 to 3650 days.")
    passphrase = _read_passphrase(args)
    sb = Sandbox(directory)
    try:
        _, info = sb.issue_user_p12(
            args.name, args.email, passphrase, legacy=args.legacy, out=out, key_size=args.key_size,
            **({"days": args.days} if args.days else {}),
        )
    except CAError as e:
        raise SandboxError(f"the sandbox CA refused: {e}.", "Check --name and --passphrase-file.") from None
    except FileExistsError:
        raise UsageError(f"{out} exists already.", "Choose another --out.") from None
    kind = "legacy RC2-40/3DES, SHA-1 MAC" if args.legacy else "AES-256, SHA-256 MAC"
    print(f"issued {info.subject}")
    print(f"  by {info.issuer}, serial {info.serial:x}, valid until {info.not_after:%Y-%m-%d}")
    print(f"  written to {out} (PKCS#12, {kind}, mode 0600)")
    return Exit.OK


def _authorize(args: argparse.Namespace, directory: Path) -> int:
    sb = load(directory)
    try:
        lines = [x for x in args.key.expanduser().read_text(encoding="utf-8").splitlines() if x.strip()]
        home = sb.authorize_ssh_key(args.user, lines[0])
    except (OSError, IndexError, ValueError) as e:
        raise UsageError(
            f"{args.key}: not a usable public key or user name ({e}).", "Give an OpenSSH .pub file."
        ) from None
    login = sb.ssh_account(args.user)
    print(f"{login} may now log in to the submit host with {args.key}; home {home}")
    print(f"  ssh -p {sb.ssh_port} {login}@{sb.settings.hostname}   (host key {sb.ssh_fingerprint})")
    return Exit.OK


def _config(args: argparse.Namespace, directory: Path) -> int:
    sb = load(directory)
    print(sb.config_toml(vo=args.vo, email=args.email, ssh_user=args.user), end="")
    return Exit.OK


def _serve(args: argparse.Namespace, directory: Path) -> int:
    from onboard.sandbox import daemon

    return daemon.serve(directory, args.ready_fd)


# action -> (add its arguments, run it); onboard/commands/sandbox/__init__.py names the module of each action
ACTIONS = {
    "up": (_up_arguments, _up),
    "down": (_no_arguments, _down),
    "status": (_json_argument, _status),
    "serve": (_serve_arguments, _serve),
    "issue": (_issue_arguments, _issue),
    "config": (_config_arguments, _config),
    "authorize": (_authorize_arguments, _authorize),
}
