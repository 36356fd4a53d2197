"""The register step: send the VO registration request — once.

Idempotent by asking the server first (each registrar knows how: VOMS-Admin's start page shows the form
only when no request exists for this certificate; IAM says whether the e-mail address is taken; VOMRS
shows where the certificate stands). The record is saved right after a submission, before anything else.
"""

from __future__ import annotations

from onboard import registration
from onboard.registration import flow
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    if flow.extra(ctx).get("registration") in ("submitted", "confirmed", "member"):
        return  # an earlier run got this far (and saved it)
    registration.get(flow.kind(ctx)).register(ctx, flow.server_url(ctx))
