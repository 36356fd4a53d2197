"""`onboard sandbox ACTION`: the embedded grid for orientation sessions, demos and tests.

The actions are a table (ACTIONS below): each names the command module that holds its arguments and its
run function, so `onboard sandbox --help` lists them in one place and nothing is looked up by name at run
time. Errors are raised (onboard.errors), never printed here: onboard.cli reports them.

    grid.py              up, down, status, serve (the background process), issue, config, authorize
    requests.py          requests, approve, reject (VOMS-Admin); iam-* and vomrs-* (the IAM and VOMRS
                         imitations' administrators)
    second_year.py       cert-requests, cert-approve, cert-reject (a member's new certificate), ca-switch
    voms.py              voms-add-member, voms-set-status (the hooks feeding a real voms-server)
    lapses.py            members, member-end, aup-resign, aup-sign, suspend, restore, lapses-due,
                         iam-suspend, iam-restore, iam-aup-lapse (the second year: what the instructor
                         sets, and what comes due)
    tokens.py            iam-device-approve (the device login of the IAM's token issuer)
    orientation.py       board (the instructor's board), join (a trainee joins the instructor's sandbox)
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

from onboard.errors import SandboxError, UsageError

# action -> (module of this package, one-line help), in the order of `onboard sandbox --help`.
ACTIONS: dict[str, tuple[str, str]] = {
    "up": ("grid",
           "start the sandbox grid in the background and print its endpoints and an onboard config"),
    "down": ("grid", "stop the sandbox (no process, no listening port left)"),
    "status": ("grid", "is it running; endpoints; requests by state"),
    "issue": ("grid", "issue a personal certificate as a password-protected PKCS#12"),
    "requests": ("requests", "registration requests and their states"),
    "approve": ("requests", "approve registration requests (as the VO administrator)"),
    "reject": ("requests",
               "reject a registration request (the request is deleted, the user is told)"),
    "config": ("grid", "print a ready-made onboard configuration for this sandbox"),
    "authorize": ("grid",
                  "let a trainee's SSH public key log in to the submit host (works while it runs)"),
    "board": ("orientation", "one line per trainee: stage, since when, what it waits for"),
    "seats": ("orientation", "make N seats: a one-time join token per trainee (shown once, kept hashed)"),
    "join": ("orientation",
             "a trainee: join the instructor's sandbox (config and trust anchor, checked by fingerprint)"),
    "voms-add-member": ("voms",
                        "make a certificate a member of a VO in a real voms-server's database (the "
                        "on-approval hook for a real voms-server; values from arguments or the hook's "
                        "environment)"),
    "voms-set-status": ("voms",
                        "suspend or restore a certificate in a real voms-server's database, as VOMS-Admin "
                        "marks it (the status-change hook; values from arguments or the hook's environment)"),
    "members": ("lapses", "the VO members: end of membership, suspension, AUP state, pending AUP task"),
    "member-end": ("lapses", "set when a membership ends (the membership check suspends it 7 days later)"),
    "aup-resign": ("lapses", "ask members to sign the AUP again (a task due in 15 days, and the mail)"),
    "aup-sign": ("lapses", "sign the AUP again for a member (as the member does on the sign-aup page)"),
    "suspend": ("lapses", "suspend a member (each certificate; a real voms-server then refuses it)"),
    "restore": ("lapses", "lift a member's suspension"),
    "lapses-due": ("lapses", "run the membership check now: what came due is re-sign tasks or suspensions"),
    "iam-suspend": ("lapses", "suspend an IAM account (its VOMS-AA then answers \"... is not active.\")"),
    "iam-restore": ("lapses", "make a suspended IAM account active again"),
    "iam-aup-lapse": ("lapses", "let an IAM account's AUP signature lapse (--signed: signed again)"),
    "cert-requests": ("second_year", "members' requests to add a new certificate (VOMS-Admin)"),
    "cert-approve": ("second_year", "approve a certificate request: the certificate joins the membership"),
    "cert-reject": ("second_year", "reject a certificate request (the member is told)"),
    "ca-switch": ("second_year", "a second sandbox CA (\"the new TCS\") issues from now on; --back undoes"),
    "iam-requests": ("requests", "IAM registration requests waiting for the administrator"),
    "iam-approve": ("requests", "approve an IAM registration request (the account becomes active)"),
    "iam-reject": ("requests", "reject an IAM registration request (the account is deleted)"),
    "iam-link": ("requests", "link a certificate to an IAM account (as its dashboard does)"),
    "iam-device-approve": ("tokens", "approve (or --deny) a device login waiting at an IAM"),
    "vomrs-requests": ("requests", "VOMRS registrations waiting for a decision"),
    "vomrs-approve": ("requests", "approve a VOMRS registration (the applicant becomes a member)"),
    "vomrs-deny": ("requests", "deny a VOMRS registration"),
    "serve": ("grid",
              "run the sandbox in the foreground until SIGTERM (what `up` starts in the background)"),
}
HIDDEN = {"serve"}  # not listed by --help: users run `up`


def default_dir() -> Path:
    env = os.environ.get("ONBOARD_SANDBOX_DIR")
    if env:
        return Path(env).expanduser()
    from onboard import paths

    return paths.data_dir() / "sandbox"


def load(directory: Path):
    """The sandbox of `directory`, which must have been set up (`onboard sandbox up`)."""
    from onboard.sandbox.manager import Sandbox

    if not (directory / "sandbox.json").exists():
        raise SandboxError(
            f"there is no sandbox in {directory}.", f"Start one: `onboard sandbox up --dir {directory}`."
        )
    return Sandbox(directory)


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    for action, (module_name, help_text) in ACTIONS.items():
        add, run = importlib.import_module(f"onboard.commands.sandbox.{module_name}").ACTIONS[action]
        kw = {} if action in HIDDEN else {"help": help_text}
        a = sub.add_parser(action, description=help_text[0].upper() + help_text[1:] + ".", **kw)
        a.add_argument(
            "--dir",
            metavar="DIR",
            type=Path,
            default=None,
            help="the sandbox's directory (default: $ONBOARD_SANDBOX_DIR or onboard's data dir/sandbox)",
        )
        add(a)
        a.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "action", None):
        listed = [a for a in ACTIONS if a not in HIDDEN]
        raise UsageError(
            "which sandbox action?", f"One of: {', '.join(listed)} (see `onboard sandbox --help`)."
        )
    directory = (args.dir or default_dir()).expanduser().resolve()
    return int(args._run(args, directory))
