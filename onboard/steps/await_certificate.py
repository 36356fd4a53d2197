"""The await_certificate step of a renewal: wait until the VO knows the new certificate, one check per due
time (`Registrar.certificate_added`): VOMS-Admin, the member's home page read with the previous
certificate (the new one among the member's, still "(Waiting for approval)", or gone: rejected, which ends
the renewal in `rejected`); IAM, the VOMS attribute authority answering for the new certificate.
"""

from __future__ import annotations

from onboard import registration
from onboard.registration import flow
from onboard.steps.context import StepContext
from onboard.steps.renewal import previous_session, renewal


def run(ctx: StepContext) -> None:
    ren = renewal(ctx)
    if ren.get("vo_change") in ("none", "known"):
        return
    url = flow.server_url(ctx)
    registrar = registration.get(flow.kind(ctx))
    ren["vo_change"] = registrar.certificate_added(ctx, lambda: previous_session(ctx, url))
    ctx.checkpoint()
    ctx.ui.say(f"VO {ctx.vo} knows your new certificate ({ctx.record.artifacts.certificate.subject_dn}).")
