"""The on-approval command: what makes an approved requester a member elsewhere (a real voms-server)."""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext


class HookFailed(SandboxError):
    """The on-approval command failed: the request stays as it was."""


def run_hook(ctx: SandboxContext, row: Any, extra_env: dict[str, str] | None = None) -> None:
    """The on-approval command, e.g. `onboard sandbox voms-add-member` feeding a real voms-server's database.

    It receives DN, CA DN, e-mail and VO in its environment (ONBOARD_SANDBOX_DN, _CA, _EMAIL, _VO,
    _REQUEST_ID, _NAME, _DIR; also ONBOARD_DN, ONBOARD_CA_DN, ONBOARD_VO, ONBOARD_EMAIL) and wherever its
    arguments say {dn}, {ca}, {email}, {vo}. Never a secret.
    """
    command = ctx.settings.on_approval.strip()
    if not command:
        return
    values = {"dn": row["subject"], "ca": row["issuer"], "email": row["email"], "vo": row["vo"]}
    argv = []
    for arg in shlex.split(command):
        for k, v in values.items():
            arg = arg.replace("{" + k + "}", v)
        argv.append(arg)
    env = {
        **os.environ,
        "ONBOARD_SANDBOX_DN": row["subject"],
        "ONBOARD_SANDBOX_CA": row["issuer"],
        "ONBOARD_SANDBOX_EMAIL": row["email"],
        "ONBOARD_SANDBOX_VO": row["vo"],
        "ONBOARD_SANDBOX_REQUEST_ID": str(row["request_id"]),
        "ONBOARD_SANDBOX_NAME": f"{row['name'] or ''} {row['surname'] or ''}".strip(),
        "ONBOARD_SANDBOX_DIR": str(ctx.dir),
        # the short names `onboard sandbox voms-add-member` reads
        "ONBOARD_DN": row["subject"],
        "ONBOARD_CA_DN": row["issuer"],
        "ONBOARD_VO": row["vo"],
        "ONBOARD_EMAIL": row["email"],
        **(extra_env or {}),  # a certificate request: the member's present certificate (ONBOARD_MEMBER_DN)
    }
    try:
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HookFailed(
            f"the on-approval command failed to run: {e}",
            "Fix settings on_approval (`onboard sandbox up --on-approval CMD`); the request stays CONFIRMED.",
        ) from None
    ctx.log(f"on-approval hook for request {row['request_id']}: exit {proc.returncode}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise HookFailed(
            f"the on-approval command exited {proc.returncode}: {last}",
            "The request stays CONFIRMED; fix the command and approve again.",
        )
