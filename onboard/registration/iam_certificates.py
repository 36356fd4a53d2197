"""INDIGO IAM in the second year: the new certificate is linked to the existing account, never a second
account. IAM links a certificate only in a logged-in browser session presenting it (`AccountLinkingController
.java`: /iam/account-linking/X509), so onboard shows the two steps once; the IAM registrar's
link_certificate then watches the VOMS attribute authority, which answers for a linked certificate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from onboard.registration import flow

if TYPE_CHECKING:
    from onboard.steps.context import StepContext


def ask(ctx: StepContext, base: str) -> str:
    """`base`: the IAM server's address (https://host[:port])."""
    ctx.ui.say("IAM adds a certificate to your account only in a browser session (two steps):")
    ctx.ui.say(f"  1. Import the new .p12 onboard made ({ctx.record.artifacts.package}) into your browser, "
               f"then log in at {base}/login (your password, or the previous certificate).")
    ctx.ui.say("  2. On your dashboard, under 'X.509 certificates', choose 'Link certificate' and pick the "
               f"new one ({base}/iam/account-linking/X509). Keep the old one linked until it expires.")
    ctx.ui.explain("Never register again with the new certificate: a second account would have to be "
                   "merged by the VO's administrators.")
    flow.extra(ctx)["explained_linking"] = True  # the first year's three steps are not shown again
    return "requested"
