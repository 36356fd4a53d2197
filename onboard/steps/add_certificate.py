"""The add_certificate step of a renewal: ask the VO to know the new certificate, once, the way its service
supports it; never a second registration.

Subject and issuer both unchanged: nothing to ask (VOMS-Admin and IAM key a member's certificate on the
pair). Otherwise the registrar asks (`Registrar.add_certificate`): VOMS-Admin, its certificate request for
an existing member, sent with the previous certificate, the one the VO knows; IAM, linking the new
certificate from the account in a browser, explained once.
"""

from __future__ import annotations

from onboard import registration
from onboard.registration import flow
from onboard.steps.context import StepContext
from onboard.steps.renewal import previous_session, renewal, same_identity


def run(ctx: StepContext) -> None:
    ren = renewal(ctx)
    if ren.get("vo_change") in ("none", "requested", "known"):
        return  # an earlier run did it (and saved it)
    new = ctx.record.artifacts.certificate
    if same_identity(ctx):
        ren["vo_change"] = "none"
        ctx.checkpoint()
        ctx.ui.say(f"Same subject and issuer as before: VO {ctx.vo} knows the new certificate already.")
        return
    prev = ren["previous"]["certificate"]
    ctx.ui.say(f"The certificate changed ({_what_changed(prev, new)}): VO {ctx.vo} must be told; onboard "
               "asks it to add the new certificate to your membership (never a second registration).")
    url = flow.server_url(ctx)
    registrar = registration.get(flow.kind(ctx))
    ren["vo_change"] = registrar.add_certificate(ctx, lambda: previous_session(ctx, url))
    ren["asked_at"] = ctx.now().isoformat(timespec="seconds")
    ctx.checkpoint()


def _what_changed(prev: dict, new) -> str:
    parts = []
    if prev.get("subject_dn") != new.subject_dn:
        parts.append(f"subject {prev.get('subject_dn')} -> {new.subject_dn}")
    if prev.get("issuer_dn") != new.issuer_dn:
        parts.append(f"issuer {prev.get('issuer_dn')} -> {new.issuer_dn}")
    return "; ".join(parts)
