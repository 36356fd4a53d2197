"""The confirm_email step: find the VO's confirmation mail, check its link, open it with the certificate.

Each check reads the mailbox (no request to the registration server) and, for VOMS-Admin and VOMRS,
makes at most one request to see whether the request was confirmed by hand (`onboard confirm URL` or a
browser) or is gone (expired). A link that does not point at this journey's registration server is
refused and reported, never opened. With IMAP IDLE and `resume --wait`, a mail is picked up as it
arrives instead of at the next check.
"""

from __future__ import annotations

from onboard.errors import Exit, OnboardError, Outcome
from onboard.registration import flow, mails
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    extra = flow.extra(ctx)
    if extra.get("registration") in ("confirmed", "member"):
        return
    kind = flow.kind(ctx)
    box = flow.mailbox(ctx)
    if box is not None:
        scan = flow.scan_mail(ctx, box)
        if scan.confirmation is None and box.push and ctx.options.get("wait"):
            # IDLE: sleep until the server announces a mail (or the check interval ends), then look again
            if box.wait(ctx.backoff()):
                scan = flow.scan_mail(ctx, box)
        flow.report_refused(ctx, scan.refused or [])
        latest = scan.last(mails.EXPIRED, mails.CONFIRM)
        if latest is not None and latest.what == mails.EXPIRED:
            raise Outcome("expired", f"the request expired before it was confirmed ({latest.subject})")
        if scan.confirmation is not None:
            try:
                confirm(ctx, scan.confirmation.url)
            except OnboardError as e:
                if e.exit_code == Exit.EXPIRED:
                    raise Outcome("expired", e.message) from None
                raise
            return
    if _confirmed_elsewhere(ctx, kind):
        return
    host = flow.server_url(ctx).split("/")[2]
    if box is None:
        hint = (
            "Open the link in the mail from the VO with your certificate in the browser, or run "
            "`onboard confirm URL` with it; onboard notices either."
        )
    else:
        hint = "Check the spam folder too; `onboard confirm URL` takes the link by hand."
    refused = len(extra.get("refused_links", []))
    what = f"the confirmation mail from {host}" + (
        f" ({refused} suspicious link(s) refused)" if refused else ""
    )
    raise ctx.wait(what, after_seconds=ctx.backoff(), hint=hint)


def confirm(ctx: StepContext, url: str) -> None:
    """Open a checked confirmation link with this journey's session and record the result."""
    kind = flow.kind(ctx)
    extra = flow.extra(ctx)
    if kind == "iam":
        from onboard.registration import iam

        iam.confirm(ctx, url)
    elif kind == "vomrs":
        from onboard.registration import vomrs

        vomrs.confirm(ctx, url)
    else:
        from onboard.registration.links import check_link
        from onboard.registration.voms_admin import VomsAdmin

        link = check_link(url, flow.server_url(ctx), kind)
        client = VomsAdmin(flow.http(ctx), flow.server_url(ctx))
        reg = ctx.config.registration
        result = client.confirm(
            link.url, choose_manager=_manager_chooser(ctx, reg.group_manager), groups=reg.groups
        )
        ctx.record.artifacts.request_id = link.request_id
        extra["registration"] = "confirmed"
        extra["confirmed_at"] = ctx.now().isoformat()
        ctx.checkpoint()
        more = f" (group manager: {result.manager})" if result.manager else ""
        more += f" (groups requested: {', '.join(result.groups)})" if result.groups else ""
        ctx.ui.say(f"Request {link.request_id} confirmed{more}; the VO administrators have been told.")


def _manager_chooser(ctx: StepContext, wanted: str):
    def choose(options: list[tuple[str, str]]) -> str | None:
        if wanted:
            low = wanted.lower()
            for value, text in options:
                if low == value.lower() or low in text.lower():
                    return value
        if len(options) == 1:
            return options[0][0]
        if ctx.ui.interactive and not wanted:
            for i, (_, text) in enumerate(options, 1):
                ctx.ui.say(f"  {i}. {text}")
            answer = ctx.ui.ask(
                "Which group manager should handle your request (number)", key="registration.group_manager"
            )
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1][0]
        return None

    return choose


def _confirmed_elsewhere(ctx: StepContext, kind: str) -> bool:
    """One request: did the request get confirmed by hand, or vanish (expired/cancelled)?"""
    extra = flow.extra(ctx)
    if kind == "voms-admin":
        from onboard.registration.voms_admin import Start, VomsAdmin

        start = VomsAdmin(flow.http(ctx), flow.server_url(ctx)).start()
        if start.kind is Start.LIMBO:
            extra["registration"] = "confirmed"
            ctx.ui.say("The request was confirmed (by hand); it waits for the VO administrators.")
            return True
        if start.kind is Start.MEMBER:
            extra["registration"] = "member"
            return True
        if start.kind is Start.FORM:
            raise Outcome(
                "expired",
                "the request is no longer on the server: it was not confirmed in time (or was cancelled)",
            )
        return False
    if kind == "vomrs":
        from onboard.registration import vomrs

        return vomrs.confirmed_elsewhere(ctx)
    return False  # IAM has no anonymous status page: the mail (or `onboard confirm`) is the way
