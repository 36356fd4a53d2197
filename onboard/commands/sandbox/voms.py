"""`onboard sandbox voms-add-member` and `voms-set-status`: the sandbox's on-approval and status-change
hooks for a real voms-server.

It makes the approved certificate a member of the VO's root group in the voms-server's MariaDB
(onboard/sandbox/voms_server). Its values come from its arguments or from the environment the sandbox
gives a hook; a database password, if one is needed, only from a file or the environment (never argv).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from onboard.errors import Exit, SandboxError, UsageError


def _arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ
    p.add_argument(
        "--socket", default=env.get("VOMS_DB_SOCKET"), help="the MariaDB socket (env VOMS_DB_SOCKET)"
    )
    p.add_argument("--host", default=env.get("VOMS_DB_HOST"), help="MariaDB over TCP instead (VOMS_DB_HOST)")
    p.add_argument(
        "--port", type=int, default=int(env.get("VOMS_DB_PORT") or 3306), help="its TCP port (VOMS_DB_PORT)"
    )
    p.add_argument("--user", default=env.get("VOMS_DB_USER", "root"), help="database account (VOMS_DB_USER)")
    p.add_argument(
        "--password-file",
        default=env.get("VOMS_DB_PASSWORD_FILE"),
        metavar="FILE",
        help="file whose first line is the account's password (VOMS_DB_PASSWORD_FILE, or the password "
        "itself in VOMS_DB_PASSWORD); none: unix_socket authentication as this OS user",
    )
    p.add_argument("--database", default=env.get("VOMS_DB_NAME"), help="the VO's database (VOMS_DB_NAME)")
    p.add_argument(
        "--dn",
        default=env.get("ONBOARD_DN") or env.get("ONBOARD_SANDBOX_DN"),
        help="the member's certificate subject, slash form (ONBOARD_DN, as the sandbox's hook gets it)",
    )
    p.add_argument(
        "--ca",
        default=env.get("ONBOARD_CA_DN") or env.get("ONBOARD_SANDBOX_CA"),
        help="its issuer (ONBOARD_CA_DN)",
    )
    p.add_argument(
        "--vo",
        default=env.get("ONBOARD_VO") or env.get("ONBOARD_SANDBOX_VO"),
        help="the VO (its root group /VO; ONBOARD_VO); default: the first group",
    )
    p.add_argument("--email", default=env.get("ONBOARD_EMAIL") or env.get("ONBOARD_SANDBOX_EMAIL", ""))
    p.add_argument("--member-dn", default=env.get("ONBOARD_MEMBER_DN"),
                   help="a certificate request: the member's present certificate, whose groups the new one "
                        "gets (ONBOARD_MEMBER_DN, as the sandbox gives it)")
    p.add_argument("--member-ca", default=env.get("ONBOARD_MEMBER_CA_DN"),
                   help="its issuer (ONBOARD_MEMBER_CA_DN)")
    p.add_argument(
        "--wait-for",
        metavar="FILE",
        help="first wait (up to 120 s) until FILE exists: a server still starting writes it once it answers",
    )


def _require_target(a: argparse.Namespace, hook: str) -> None:
    """The database (named after the VO when not given), the server and the certificate, or a UsageError."""
    from onboard.sandbox.voms_server import database_name

    if not a.database and a.vo:
        a.database = database_name(a.vo)
    lacking = [n for n in ("database", "dn", "ca") if not getattr(a, n)]
    if not a.socket and not a.host:
        lacking.insert(0, "socket")
    if lacking:
        raise UsageError(
            f"missing {', '.join('--' + m for m in lacking)}.",
            f"Give them as options, or in the environment the sandbox gives its {hook} hook.",
        )


def _run(a: argparse.Namespace, directory: Path) -> int:
    """Exit 0 when the member is there, 2 for missing values, 1 otherwise; one line each way."""
    from onboard.sandbox.voms_server import add_member

    _require_target(a, "on-approval")
    password = os.environ.get("VOMS_DB_PASSWORD") or None
    if a.password_file:
        try:
            password = Path(a.password_file).expanduser().read_text().splitlines()[0]
        except (OSError, IndexError) as e:
            raise _Failed(f"cannot read the password file {a.password_file}: {e}") from None
    if a.wait_for:
        deadline = time.monotonic() + 120
        while not Path(a.wait_for).exists():
            if time.monotonic() > deadline:
                raise _Failed(f"{a.wait_for} did not appear within 120 s")
            time.sleep(0.05)
    client: dict[str, object] = {"user": a.user, "password": password}
    if not a.socket:
        client.update(host=a.host, port=a.port)
    try:
        if a.member_dn and a.member_ca:  # an added certificate: the member's groups, no new membership
            from onboard.sandbox.voms_server.members import add_certificate

            add_certificate(a.dn, a.ca, a.member_dn, a.member_ca, socket_path=a.socket, database=a.database,
                            email=a.email, **client)
        else:
            add_member(a.dn, a.ca, socket_path=a.socket, database=a.database, vo=a.vo, email=a.email,
                       **client)
    except Exception as e:  # one line for the hook's log (the password is never in it: not in argv)
        raise _Failed(str(e)) from None
    print(f"voms-add-member: {a.dn} is a member of {a.vo or a.database}")
    return Exit.OK


def _status_arguments(p: argparse.ArgumentParser) -> None:
    _arguments(p)
    env = os.environ
    state = p.add_mutually_exclusive_group()
    state.add_argument("--suspend", dest="suspended", action="store_true",
                       help="suspend the certificate (default: as ONBOARD_SANDBOX_SUSPENDED=1|0 says)")
    state.add_argument("--restore", dest="suspended", action="store_false", help="make it active again")
    p.set_defaults(suspended=env.get("ONBOARD_SANDBOX_SUSPENDED") == "1")  # the sandbox's hook environment
    p.add_argument("--reason", default=env.get("ONBOARD_SANDBOX_SUSPENSION_REASON", ""),
                   help="the reason voms-server tells the member (ONBOARD_SANDBOX_SUSPENSION_REASON)")
    p.add_argument("--reason-code", default=env.get("ONBOARD_SANDBOX_SUSPENSION_CODE", ""),
                   help="VOMS-Admin's reason code (ONBOARD_SANDBOX_SUSPENSION_CODE)")


def _status_run(a: argparse.Namespace, directory: Path) -> int:
    """Exit 0 when the certificate's state is set, 2 for missing values, 1 otherwise."""
    from onboard.sandbox.voms_server.lapses import set_status

    _require_target(a, "status-change")
    client: dict[str, object] = {"user": a.user, "password": os.environ.get("VOMS_DB_PASSWORD") or None}
    if a.password_file:
        try:
            client["password"] = Path(a.password_file).expanduser().read_text().splitlines()[0]
        except (OSError, IndexError) as e:
            raise _Failed(f"cannot read the password file {a.password_file}: {e}") from None
    if not a.socket:
        client.update(host=a.host, port=a.port)
    try:
        set_status(a.dn, a.ca, suspended=a.suspended, reason=a.reason or "Reason unknown",
                   reason_code=a.reason_code, socket_path=a.socket, database=a.database, **client)
    except Exception as e:  # one line for the sandbox's log (no password in it: never in argv)
        raise _Failed(str(e)) from None
    print(f"voms-set-status: {a.dn} {'suspended' if a.suspended else 'active'} in {a.vo or a.database}")
    return Exit.OK


class _Failed(SandboxError):
    """The member could not be added: exit 1, as hooks expect of a failure. No hint: the sandbox quotes
    the hook's last line of stderr, which is then this message."""

    exit_code = Exit.ERROR
    default_hint = ""


ACTIONS = {"voms-add-member": (_arguments, _run), "voms-set-status": (_status_arguments, _status_run)}
