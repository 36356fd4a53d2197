"""INDIGO IAM emulation for the sandbox (reference §4): one IAM per VO at https://HOST:OPEN_PORT/iam/<vo>.

Registration API as IAM >= 1.11 (and the older GET confirmation): `GET /start-registration`,
`GET /registration/email-available/{email}`, `GET /registration/username-available/{name}`,
`POST /registration/create` (JSON, no CSRF), `GET /registration/verify/{key}` (a page whose form POSTs the
token), `POST /registration/verify` (token=...), states NEW -> CONFIRMED -> APPROVED | REJECTED (a rejected
account is deleted). Mails with IAM's subjects and links. After approval, the browser part: the
password-reset link sets a password, `POST /login` logs in, `POST /iam/account-linking/X509` links the
TLS client certificate of the session. The VOMS-AA: `GET /generate-ac` answers an AC-like XML for a linked
certificate and `<error><code>1001</code>` (403, iam-voms-aa's numeric code) otherwise.

With `onboard sandbox up --cern-profile VO` (settings.cern_profile_vos) the VO's IAM behaves as CERN's
(cern_profile.py): an anonymous `POST /registration/create` refused as upstream refuses it, registration
only after the "sandbox SSO — not CERN" login (sso.py), the certificate linked from the logged-in session.

Instructor side (admin.py; `onboard sandbox iam-requests|iam-approve|iam-reject|iam-link`):
`pending(ctx)`, `approve(ctx, uuid)`, `reject(ctx, uuid, motivation)`, `link_certificate(ctx, vo, username,
subject, issuer)`.
"""

from onboard.sandbox.iam.admin import approve, pending, reject
from onboard.sandbox.iam.model import link_certificate
from onboard.sandbox.iam.routes import install

__all__ = ["approve", "install", "link_certificate", "pending", "reject"]
