"""The confirm_email step: find the VO's confirmation mail, check its link, open it with the certificate.

Each check reads the mailbox (no request to the registration server) and, where the service has a status
page (VOMS-Admin, VOMRS), makes at most one request to see whether the request was confirmed by hand
(`onboard confirm URL` or a browser) or is gone (expired); which mails, links and pages are the service's
is its registrar's. A link that does not point at this journey's registration server is refused and
reported, never opened. With IMAP IDLE and `resume --wait`, a mail is picked up as it arrives instead of
at the next check.
"""

from __future__ import annotations

from onboard import registration
from onboard.errors import Exit, OnboardError, Outcome
from onboard.registration import flow, mails
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    extra = flow.extra(ctx)
    if extra.get("registration") in ("confirmed", "member"):
        return
    registrar = registration.get(flow.kind(ctx))
    box = flow.mailbox(ctx)
    if box is not None:
        scan = registrar.scan_mail(ctx, box)
        if not scan.confirmations and box.push and ctx.options.get("wait"):
            # IDLE: sleep until the server announces a mail (or the check interval ends), then look again
            if box.wait(ctx.backoff()):
                scan = registrar.scan_mail(ctx, box)
        flow.report_refused(ctx, scan.refused or [])
        latest = scan.last(mails.EXPIRED, mails.CONFIRM)
        if latest is not None and latest.what == mails.EXPIRED:
            raise Outcome("expired", f"the request expired before it was confirmed ({latest.subject})")
        ours = scan.confirmation_for(ctx.record.artifacts.request_id)
        if ours is not None:
            try:
                registrar.confirm(ctx, ours.url)
            except OnboardError as e:
                if e.exit_code == Exit.EXPIRED:
                    raise Outcome("expired", e.message) from None
                raise
            return
    if registrar.confirmed_elsewhere(ctx):  # one request, where the service has a status page
        return
    host = flow.server_url(ctx).split("/")[2]
    hint = registrar.confirm_hint(box is not None)
    refused = len(extra.get("refused_links", []))
    what = f"the confirmation mail from {host}" + (
        f" ({refused} suspicious link(s) refused)" if refused else ""
    )
    raise ctx.wait(what, after_seconds=ctx.backoff(), hint=hint)


def confirm(ctx: StepContext, url: str) -> None:
    """A confirmation link given by hand: checked, then opened with this journey's session; recorded."""
    registration.get(flow.kind(ctx)).confirm(ctx, url)
