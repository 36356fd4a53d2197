"""VOMS-Admin's certificate request, from the member's side: "add this new certificate to my membership".

Upstream (voms-admin-server `RequestCertificateAction.java`, `p/user/certificateRequest.jsp`,
`requestCertificate.jsp`): the member, authenticated with a certificate the VO knows, presses "Add an
additional certificate" on user/home.action (a form to user/request-certificate.action with the submit
button `method:input`), gets the request form (Struts token, userId, and either a PEM certificateFile or a
subject + caSubject couple), and posts it as multipart/form-data; VOMS-Admin answers with a redirect to
the home page, whose certificate pane then lists the request "(Waiting for approval)" (`requestedDN`,
`requestedCA`) until an administrator approves it, when the certificate appears among the member's own
(`userDN`, `userCA`). A rejected request disappears from both.

onboard uploads the certificate file itself (no subject typed by hand, so no typo), and asks the home page
first, so a request is never sent twice.
"""

from __future__ import annotations

import re
from html import unescape
from typing import TYPE_CHECKING

from onboard.errors import Outcome, RegistrationError
from onboard.registration import flow, html
from onboard.registration.voms_admin import _check_status, base_url, format_errors

if TYPE_CHECKING:
    from onboard.adapters.https import HTTPS
    from onboard.steps.context import StepContext

BOUND, PENDING, NONE = "bound", "pending", "none"
_DIV = r'<div\s+class="{cls}"[^>]*>(.*?)</div>'


def _divs(text: str, cls: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in re.findall(_DIV.format(cls=cls), text, re.S)]


class CertificateRequests:
    """One member's certificate requests on one VOMS-Admin, through a session with a certificate the VO
    knows (the old one, still valid)."""

    def __init__(self, http: HTTPS, url: str):
        self.http = http
        self.base = base_url(url)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def _home(self) -> str:
        resp = self.http.get(self.url("user/home.action"))
        if resp.status_code in (301, 302, 303) and "register" in resp.headers.get("Location", ""):
            raise RegistrationError(
                f"{self.http.host} does not know your previous certificate as a member.",
                "A certificate request needs a certificate the VO knows; ask the VO's administrators to add "
                "the new one (never register a second time).",
            )
        _check_status(resp, self.http.host)
        return resp.text

    def status(self, subject: str, issuer: str) -> str:
        """bound (the membership has the certificate), pending (a request waits), or none."""
        text = self._home()
        if (subject, issuer) in zip(_divs(text, "userDN"), _divs(text, "userCA"), strict=False):
            return BOUND
        if (subject, issuer) in zip(_divs(text, "requestedDN"), _divs(text, "requestedCA"), strict=False):
            return PENDING
        return NONE

    def submit(self, cert_pem: bytes, subject: str, issuer: str) -> str:
        """Send the request (after `status` said none); returns the status the home page then shows."""
        home = html.parse(self._home())
        start = home.form("request-certificate")
        if start is None:
            raise RegistrationError(f"{self.http.host}'s home page offers no 'Add an additional "
                                    "certificate'.",
                                    "The VO may have closed registrations; ask its administrators.")
        resp = self.http.post(self.url("user/request-certificate.action"),
                              data=[*start.defaults(), ("method:input", "Add an additional certificate")])
        _check_status(resp, self.http.host)
        page = html.parse(resp.text)
        form = page.form("request-certificate")
        if form is None or form.field("certificateFile") is None:
            raise RegistrationError(f"{self.http.host} did not show the certificate request form.",
                                    f"It said: {format_errors(page)}")
        fields = [(n, v) for n, v in form.defaults() if n not in ("subject", "caSubject")]
        resp = self.http.post(self.url("user/request-certificate.action"), data=fields,
                              files={"certificateFile": ("usercert.pem", cert_pem, "application/x-pem-file")},
                              idempotent=False)
        _check_status(resp, self.http.host)
        if resp.status_code not in (301, 302, 303):
            answer = html.parse(resp.text)
            raise RegistrationError(f"{self.http.host} refused the certificate request: "
                                    f"{format_errors(answer)}",
                                    "Ask the VO's administrators to add your new certificate by hand.")
        now = self.status(subject, issuer)
        if now == NONE:
            raise RegistrationError(f"{self.http.host} took the certificate request but does not list it.",
                                    "Look at your VOMS-Admin home page; `onboard renew` asks again.")
        return now


def ask(ctx: StepContext, session: HTTPS) -> str:
    """The registrar's add_certificate: the home page first (a request is never sent twice), then the
    request with the certificate file. "known" when the membership has the certificate already."""
    from pathlib import Path

    url = flow.server_url(ctx)
    new = ctx.record.artifacts.certificate
    client = CertificateRequests(session, url)
    status = client.status(new.subject_dn, new.issuer_dn)
    if status == NONE:
        status = client.submit(Path(ctx.record.artifacts.cert).read_bytes(), new.subject_dn, new.issuer_dn)
        ctx.ui.say(f"Sent VOMS-Admin's certificate request for {new.subject_dn} (with your previous "
                   "certificate); the VO's administrators approve it.")
    return "known" if status == BOUND else "requested"


def decided(ctx: StepContext, session: HTTPS) -> str:
    """The registrar's certificate_added: one look at the home page per due time."""
    new = ctx.record.artifacts.certificate
    status = CertificateRequests(session, flow.server_url(ctx)).status(new.subject_dn, new.issuer_dn)
    if status == PENDING:
        raise ctx.wait(f"the administrators of VO {ctx.vo} to approve adding your new certificate",
                       after_seconds=ctx.backoff(),
                       hint="`onboard renew` (or `onboard resume`) looks again; `--wait` keeps looking.")
    if status != BOUND:
        raise Outcome("rejected", f"VO {ctx.vo} did not add {new.subject_dn} to your membership (the "
                                  "certificate request was rejected or has expired)")
    return "known"
