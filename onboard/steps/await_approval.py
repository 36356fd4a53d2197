"""The await_approval step: one check per due time, never more than one request to the server per check.

VOMS-Admin: the mail (free), then apiv2/user-info or the start page (see registration/approval.py).
IAM: the approval mail (IAM has no anonymous status API); without a mailbox, the certificate-linking
check of the next step is the only sign. VOMRS: the member's status page.
A rejection or an expiry ends the journey (`Outcome`) with the reason and what to do next.
"""

from __future__ import annotations

from onboard.errors import Outcome
from onboard.registration import approval, flow
from onboard.steps.context import StepContext

NEXT = (
    "Ask the VO's administrators (or the VO's support) why; "
    "then `onboard reset` and `onboard start` to try again."
)


def run(ctx: StepContext) -> None:
    kind = flow.kind(ctx)
    extra = flow.extra(ctx)
    box = flow.mailbox(ctx)
    scan = flow.scan_mail(ctx, box) if box is not None else None
    if scan is not None:
        flow.report_refused(ctx, scan.refused or [])
    if kind == "iam":
        from onboard.registration import iam

        verdict = iam.check_approval(ctx, scan)
    elif kind == "vomrs":
        from onboard.registration import vomrs

        verdict = vomrs.check_approval(ctx, scan)
    else:
        from onboard.registration.voms_admin import VomsAdmin

        ident = flow.identity(ctx)
        method = approval.method_for(
            ctx.config.registration.poll_method, box is not None, extra.get("approval_method", "")
        )
        client = VomsAdmin(flow.http(ctx), flow.server_url(ctx))
        verdict = approval.check_voms_admin(client, method, ident.subject, ident.issuer, scan)
        if verdict.switch_to:
            extra["approval_method"] = verdict.switch_to
    if verdict.status == approval.PENDING and box is not None and box.push and ctx.options.get("wait"):
        # `resume --wait` with IMAP IDLE: the decision mail wakes us before the next check (no server request)
        if box.wait(ctx.backoff()):
            later = approval.from_mail(flow.scan_mail(ctx, box))
            if later is not None:
                verdict = later
    _conclude(ctx, verdict)


def _conclude(ctx: StepContext, verdict: approval.Verdict) -> None:
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
    raise ctx.wait(
        what,
        after_seconds=ctx.backoff(),
        hint="This can take days; `onboard resume` checks again (or `onboard resume --wait`).",
    )
