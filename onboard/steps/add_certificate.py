"""The add_certificate step of a renewal: ask the VO to know the new certificate, once, the way its service
supports it; never a second registration.

Subject and issuer both unchanged: nothing to ask (VOMS-Admin and IAM key a member's certificate on the
pair). Otherwise: VOMS-Admin, its certificate request for an existing member, sent with the previous
certificate (the one the VO knows; onboard/registration/voms_admin_certificates.py); IAM, linking the new
certificate from the account in a browser, explained once (the await step watches the VOMS-AA).
"""

from __future__ import annotations

from onboard.errors import NotImplementedStep
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
    kind = flow.kind(ctx)
    if kind == "voms-admin":
        _voms_admin(ctx, ren)
    elif kind == "iam":
        _iam(ctx, ren)
    else:
        raise NotImplementedStep(f"telling a {kind} VO about a new certificate is not implemented.",
                                 f"Ask the administrators of VO {ctx.vo} to add {new.subject_dn} (issuer "
                                 f"{new.issuer_dn}) to your membership.")


def _what_changed(prev: dict, new) -> str:
    parts = []
    if prev.get("subject_dn") != new.subject_dn:
        parts.append(f"subject {prev.get('subject_dn')} -> {new.subject_dn}")
    if prev.get("issuer_dn") != new.issuer_dn:
        parts.append(f"issuer {prev.get('issuer_dn')} -> {new.issuer_dn}")
    return "; ".join(parts)


def _voms_admin(ctx: StepContext, ren: dict) -> None:
    from pathlib import Path

    from onboard.registration.voms_admin_certificates import BOUND, CertificateRequests

    url = flow.server_url(ctx)
    new = ctx.record.artifacts.certificate
    client = CertificateRequests(previous_session(ctx, url), url)
    status = client.status(new.subject_dn, new.issuer_dn)  # asked first: a request is never sent twice
    if status == "none":
        status = client.submit(Path(ctx.record.artifacts.cert).read_bytes(), new.subject_dn, new.issuer_dn)
        ctx.ui.say(f"Sent VOMS-Admin's certificate request for {new.subject_dn} (with your previous "
                   "certificate); the VO's administrators approve it.")
    ren["vo_change"] = "known" if status == BOUND else "requested"
    ren["request"] = {"kind": "voms-admin-certificate-request", "at": ctx.now().isoformat(timespec="seconds")}
    ctx.checkpoint()


def _iam(ctx: StepContext, ren: dict) -> None:
    from onboard.registration.voms_admin import base_url

    base = base_url(flow.server_url(ctx))
    ctx.ui.say("IAM adds a certificate to your account only in a browser session (two steps):")
    ctx.ui.say(f"  1. Import the new .p12 onboard made ({ctx.record.artifacts.package}) into your browser, "
               f"then log in at {base}/login (your password, or the previous certificate).")
    ctx.ui.say("  2. On your dashboard, under 'X.509 certificates', choose 'Link certificate' and pick the "
               "new one (IAM's /iam/account-linking/X509). Keep the old one linked until it expires.")
    ren["vo_change"] = "requested"
    ren["request"] = {"kind": "iam-link", "at": ctx.now().isoformat(timespec="seconds")}
    ctx.ui.explain("Never register again with the new certificate: a second account would have to be "
                   "merged by the VO's administrators.")
    ctx.checkpoint()
