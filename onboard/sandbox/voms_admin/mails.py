# ruff: noqa: E501 - mail templates keep the line structure of the real ones
"""The mails VOMS-Admin sends: confirm your request, a request needs handling, approved, rejected, expired.
Subjects and bodies as the real ones (the clients read the links out of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onboard.sandbox.voms_admin.links import base_url, request_url

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App


def send(ctx: SandboxContext, to: str, subject: str, body: str) -> None:
    """Mail as VOMS-Admin's notification service does: a failure is logged, the request goes on."""
    try:
        ctx.mail.send(to, subject, body)
    except Exception as e:  # SMTP down, an address no Maildir can be named after, a full disk
        ctx.log(f"mail to {to} ({subject}) failed: {type(e).__name__}: {e}")


def confirm(ctx: SandboxContext, row: Any, app: App | None) -> None:
    vo = row["vo"]
    body = (
        f"Dear {row['email']}, \n\nyou have requested to be a member of VO {vo}.\n\n"
        "In order for the registration to proceed, you should confirm this\nrequest by going to the following "
        f"url:\n\n{request_url(ctx, 'confirm', row, app)}\n\nIn case you never requested to be a member of VO "
        f"{vo}, please\nlet us know by going to the following url:\n\n{request_url(ctx, 'cancel', row, app)}\n\n"
        f"Your sincerely,\nVoms-Admin registration service for VO {vo}\n"
    )
    send(ctx, row["email"], f"[VOMS Admin] Your membership request for VO {vo}", body)


def handle(ctx: SandboxContext, row: Any, app: App | None) -> None:
    vo = row["vo"]
    recipient = row["manager_email"] or ctx.settings.admin  # the group manager chosen, else the VO admins
    personal = "".join(
        f"\t{label}: {row[key]}\n"
        for key, label in (
            ("name", "Name"),
            ("surname", "Family name"),
            ("institution", "Institution"),
            ("address", "Address"),
            ("phone", "Phone number"),
        )
        if row[key]
    )
    body = (
        f"Dear {recipient},\n\nas VO administrator of VO {vo}, your authorization is requested for the\n"
        "following vo membership request issued by the following user:\n\nUser Certificate information:\n\n"
        f"\tSubject: {row['subject']}\n\tIssuer:  {row['issuer']}\n\t\nPersonal information:\n\n{personal}\n"
        f"\tEmail: {row['email']}\n\n\n\nIn order to handle this request, point your browser\nto the following "
        f"URL:\n\n{base_url(ctx, vo, app)}/home/login.action\n\nYour sincerely,\n"
        f"The Voms-Admin registration service for VO {vo}"
    )
    send(ctx, recipient, f"[VOMS Admin] A vo membership request for VO {vo} requires your approval.", body)


def approved(ctx: SandboxContext, row: Any) -> None:
    vo = row["vo"]
    body = (
        f"Dear {row['email']}, \n\nyour vo membership request for VO {vo}\nhas been approved.\n\n\n"
        f"Your sincerely,\nThe Voms-Admin registration service for VO {vo}"
    )
    send(ctx, row["email"], f"[VOMS Admin] Your vo membership request for VO {vo} has been approved.", body)


def rejected(ctx: SandboxContext, row: Any, explanation: str | None) -> None:
    vo = row["vo"]
    reason = (
        f"\nThe reason behind the rejection is the following:\n\t\n\t{explanation}\n\t\n"
        if explanation
        else ""
    )
    body = (
        f"Dear {row['email']}, \n\n\nyour vo membership request for VO {vo} has been REJECTED.\n\n"
        f"{reason}\nYour sincerely,\nVoms-Admin registration service for VO {vo}"
    )
    send(ctx, row["email"], f"[VOMS Admin] Your vo membership request for VO {vo} has been rejected.", body)


def expired(ctx: SandboxContext, row: Any) -> None:
    vo = row["vo"]
    body = (
        f"Dear {row['email']}, \n\nyour membership request for VO {vo} has expired since you didn't confirm "
        "it in time\nAs such, will not be considered by VO administrators, so if you want be member of the\n"
        f"VO, please consider resubmitting a request. \n\nYour sincerely,\n"
        f"Voms-Admin registration service for VO {vo}"
    )
    send(ctx, row["email"], "[VOMS Admin] You vo membership request has expired!", body)
