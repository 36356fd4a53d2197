"""The await_approval step: one check per due time, never more than one request to the server per check.

What a check asks, and what "member" means, is the registrar's (`Registrar.check_approval`): VOMS-Admin
reads the mail (free), then apiv2/user-info or the start page; IAM the approval mail (no anonymous status
API; without a mailbox, the VOMS-AA); VOMRS the member's status page.
A rejection or an expiry ends the journey (`Outcome`) with the reason and what to do next.
"""

from __future__ import annotations

from onboard import registration
from onboard.errors import Outcome
from onboard.registration import approval, flow
from onboard.steps.context import StepContext

NEXT = (
    "Ask the VO's administrators (or the VO's support) why; "
    "then `onboard reset` and `onboard start` to try again."
)


def run(ctx: StepContext) -> None:
    registrar = registration.get(flow.kind(ctx))
    box = flow.mailbox(ctx)
    scan = registrar.scan_mail(ctx, box) if box is not None else None
    if scan is not None:
        flow.report_refused(ctx, scan.refused or [])
    verdict = registrar.check_approval(ctx, scan)
    if verdict.status in approval.UNDECIDED and box is not None and box.push and ctx.options.get("wait"):
        # `resume --wait` with IMAP IDLE: the decision mail wakes us before the next check (no server request)
        if box.wait(ctx.backoff()):
            later = approval.from_mail(registrar.scan_mail(ctx, box))
            if later is not None:
                verdict = later
    _conclude(ctx, verdict, registrar.approval_hint())


def _conclude(ctx: StepContext, verdict: approval.Verdict, hint: str) -> None:
    extra = flow.extra(ctx)
    if verdict.status == approval.APPROVED:
        if verdict.fqans:
            ctx.record.artifacts.fqans = verdict.fqans
        extra["registration"] = "member"
        extra["approved_at"] = ctx.now().isoformat()
        ctx.ui.say(
            f"Approved: you are a member of VO {ctx.vo}"
            + (f" ({verdict.reason})." if verdict.reason else ".")
        )
        return
    if verdict.status == approval.REJECTED:
        raise Outcome("rejected", f"{verdict.reason}. {NEXT}")
    if verdict.status == approval.EXPIRED:
        raise Outcome("expired", f"the request expired ({verdict.reason}). {NEXT}")
    what = f"approval of your request by the administrators of VO {ctx.vo}"
    if verdict.status == approval.UNCONFIRMED:
        what += " (the server still waits for the e-mail confirmation: open the link in its mail)"
    # PENDING, and NOT_ALLOWED (the server would not say; the registrar asks another way next time)
    if verdict.status == approval.NOT_ALLOWED and verdict.reason:
        ctx.ui.say(f"Not known yet whether you are a member: {verdict.reason}.")
    raise ctx.wait(
        what,
        after_seconds=ctx.backoff(),
        hint=hint,
    )
