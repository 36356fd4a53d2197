"""The link_certificate step: wait until the certificate is tied to the membership.

For IAM the user links it in a browser after approval; onboard explains the steps once and watches the
VOMS attribute authority (the registrar's `link_certificate`). Services that register the certificate
itself have nothing to wait for here.
"""

from __future__ import annotations

from onboard import registration
from onboard.registration import flow
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    registration.get(flow.kind(ctx)).link_certificate(ctx)
