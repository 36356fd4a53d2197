"""VOMRS emulation for the sandbox (reference §3): https://HOST:VOMS_PORT/vo/<VO>/vomrs, client certificate
required, the DN and CA shown at the bottom of every page.

The two phases of the OSG guide: Phase I (a *visitor* submits personal data; a mailed link confirms the
address and makes a *candidate*), Phase II (the candidate accepts the AUP, names a *representative*, may
request groups, and becomes an *applicant* with membership status New); the representative or an
administrator approves (Approved) or denies (Denied). Unconfirmed Phase I registrations expire after the
sandbox's request lifetime. Real VOMRS page texts are not documented; these are this emulation's.

Instructor side (admin.py): `pending(ctx)`, `approve(ctx, member_id)`, `deny(ctx, member_id, reason)`,
or `onboard sandbox vomrs-requests|vomrs-approve|vomrs-deny`.
"""

from onboard.sandbox.vomrs.admin import approve, deny, pending
from onboard.sandbox.vomrs.routes import install

__all__ = ["approve", "deny", "install", "pending"]
