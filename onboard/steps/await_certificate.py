"""The await_certificate step of a renewal: wait until the VO knows the new certificate.

VOMS-Admin: one look at the member's home page (with the previous certificate) per due time: the
certificate among the member's (approved), still "(Waiting for approval)", or gone (rejected). IAM: the
VOMS attribute authority answers for the new certificate once it is linked (the first journey's check).
"""

from __future__ import annotations

from onboard import registration
from onboard.errors import Outcome
from onboard.registration import flow
from onboard.steps.context import StepContext
from onboard.steps.renewal import previous_session, renewal


def run(ctx: StepContext) -> None:
    ren = renewal(ctx)
    if ren.get("vo_change") in ("none", "known"):
        return
    new = ctx.record.artifacts.certificate
    if flow.kind(ctx) == "iam":
        flow.extra(ctx)["explained_linking"] = True  # the renewal's own steps were shown
        registration.get("iam").link_certificate(ctx)  # waits (raises) until the VOMS-AA answers
    else:
        from onboard.registration.voms_admin_certificates import BOUND, PENDING, CertificateRequests

        url = flow.server_url(ctx)
        status = CertificateRequests(previous_session(ctx, url), url).status(new.subject_dn, new.issuer_dn)
        if status == PENDING:
            raise ctx.wait(f"the administrators of VO {ctx.vo} to approve adding your new certificate",
                           after_seconds=ctx.backoff(),
                           hint="`onboard renew` (or `onboard resume`) looks again; `--wait` keeps looking.")
        if status != BOUND:
            raise Outcome("rejected", f"VO {ctx.vo} did not add {new.subject_dn} to your membership (the "
                                      "certificate request was rejected). Ask the VO's administrators why.")
    ren["vo_change"] = "known"
    ctx.checkpoint()
    ctx.ui.say(f"VO {ctx.vo} knows your new certificate ({new.subject_dn}).")
