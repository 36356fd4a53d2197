"""The register step: send the VO registration request — once.

Idempotent by asking the server first: VOMS-Admin's start page shows the form only when no request
exists for this certificate; IAM says whether the e-mail address is taken; VOMRS shows where the
certificate stands. The record is saved right after a submission, before anything else happens.
"""

from __future__ import annotations

from onboard.registration import flow
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    kind = flow.kind(ctx)
    url = flow.server_url(ctx)
    extra = flow.extra(ctx)
    if extra.get("registration") in ("submitted", "confirmed", "member"):
        return  # an earlier run got this far (and saved it)
    if kind == "iam":
        from onboard.registration import iam

        iam.register(ctx, url)
    elif kind == "vomrs":
        from onboard.registration import vomrs

        vomrs.register(ctx, url)
    else:
        _voms_admin(ctx, url)


def _voms_admin(ctx: StepContext, url: str) -> None:
    from onboard.registration.voms_admin import Start, VomsAdmin

    client = VomsAdmin(flow.http(ctx, url), url)
    extra = flow.extra(ctx)
    ctx.ui.explain(
        f"Your browser would show {client.url('register/start.action')} with your certificate; "
        "onboard reads the same page to see whether a request exists already."
    )
    start = client.start()
    if start.kind is Start.MEMBER:
        extra["registration"] = "member"
        ctx.ui.say(f"Your certificate is already a member of VO {client.vo}: nothing to register.")
        return
    result = client.submit(ctx.config.user, ctx.config.registration.message, start)
    if result.submitted:
        extra["registration"] = "submitted"
        extra["submitted_at"] = ctx.now().isoformat()
        extra["expires"] = result.expires
        ctx.checkpoint()  # the side effect happened: never again, whatever comes next
        ctx.ui.say(f"Registration request sent to {client.host} for VO {client.vo}.")
        ctx.ui.explain(
            "The server now mails you a link to confirm the request"
            + (f", valid until {result.expires}." if result.expires else ".")
        )
    elif result.kind == "existing-unconfirmed":
        extra["registration"] = "submitted"
        ctx.ui.say(
            f"{client.host} already has your request for VO {client.vo}, waiting for the e-mail "
            "confirmation; nothing was sent again."
        )
    elif result.kind == "existing-pending":
        extra["registration"] = "confirmed"
        ctx.ui.say(
            f"{client.host} already has your confirmed request for VO {client.vo}; "
            "it waits for the VO administrators."
        )
    else:
        extra["registration"] = "member"
        ctx.ui.say(f"Your certificate is already a member of VO {client.vo}.")
