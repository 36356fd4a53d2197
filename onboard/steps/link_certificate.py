"""The link_certificate step (IAM): wait until the certificate is linked to the IAM account.

IAM activates the account by mail; the user then logs in with a browser, sets a password and links the
certificate there. onboard cannot do those for them: it explains them once, and each check makes one
request to the VOMS attribute authority, which issues an attribute certificate only for a linked one.
"""

from __future__ import annotations

from onboard.errors import RegistrationError
from onboard.registration import flow, iam
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    extra = flow.extra(ctx)
    if extra.get("iam_linked"):
        return
    state, detail = iam.aa_status(ctx)
    if state == "linked":
        extra["iam_linked"] = True
        ctx.ui.say(f"Your certificate is linked: the VOMS attribute authority of VO {ctx.vo} knows it.")
        return
    if state == "refused":
        raise RegistrationError(
            f"the VOMS attribute authority refuses your certificate ({detail}).",
            "Sign the VO's usage policy on the IAM dashboard, or ask the VO's administrators.",
        )
    iam.explain_linking(ctx)
    raise ctx.wait(
        f"your certificate to be linked to your IAM account for VO {ctx.vo}",
        after_seconds=ctx.backoff(),
        hint="Do the browser steps shown above; `onboard resume` checks again.",
    )
