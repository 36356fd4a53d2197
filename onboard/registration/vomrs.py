"""VOMRS as a registrar, with its client (reference §3): the two-phase registration of the OSG guide, as
the sandbox emulates it.

Phase I: the *visitor* fills in personal data at https://HOST:8443/vo/<VO>/vomrs and confirms the mailed
link, becoming a *candidate*. Phase II: the candidate accepts the AUP, names a *representative* and may
request groups, becoming an *applicant*; the representative or an administrator approves (membership
status Approved) or denies. The member page (one request) shows where the certificate stands.
No live VOMRS is known to remain; page texts are those of onboard's sandbox emulation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from onboard.errors import Outcome, RegistrationError
from onboard.registration import approval, flow, html, links, mails
from onboard.registration.registrar import Registrar
from onboard.registration.voms_admin import FormError

if TYPE_CHECKING:
    from email.message import Message

    from onboard.adapters.https import HTTPS
    from onboard.registration.flow import Scan
    from onboard.steps.context import StepContext

VISITOR, WAITING, CANDIDATE, APPLICANT, MEMBER, DENIED, UNKNOWN = (
    "visitor",
    "waiting-confirmation",
    "candidate",
    "applicant",
    "member",
    "denied",
    "unknown",
)
_STATUS = re.compile(r"Membership status:\s*(\w+)", re.I)
_NUMBER = re.compile(r"Registration number:\s*(\d+)", re.I)
_REASON = re.compile(r"Reason:\s*(.+?)(?:\s*Your DN:|$)", re.I)


@dataclass
class Status:
    state: str
    page: html.Page
    form: html.Form | None = None
    reason: str = ""


def _base_path(path: str) -> str:
    m = re.match(r"^(/vo/[^/]+/vomrs)", path)
    return m.group(1) if m else path


LINKS = links.LinkRule(
    base_path=_base_path,
    path=re.compile(r"^/confirm$"),
    query={"memberId": re.compile(r"^\d{1,19}$"), "code": re.compile(f"^{links.UUID}$")},
    request_id="memberId",
    token="code",
    reportable="/confirm",
)


def base_url(url: str) -> str:
    return links.Server.from_url(url, LINKS).base_url()


class Vomrs:
    def __init__(self, http: HTTPS, url: str):
        self.http = http
        self.base = base_url(url)
        self.host = urlsplit(self.base).netloc

    def status(self) -> Status:
        """One request: the member page, classified."""
        resp = self.http.get(self.base)
        if resp.status_code >= 400:
            raise RegistrationError(
                f"{self.host} answered HTTP {resp.status_code} for the VOMRS page.",
                "Check vos.<vo>.url (https://host:8443/vo/<VO>/vomrs).",
            )
        page = html.parse(resp.text)
        m = _STATUS.search(page.text)
        word = m.group(1).lower() if m else ""
        if page.form("phase2") is not None:
            return Status(CANDIDATE, page, page.form("phase2"))
        if page.form("register") is not None:
            return Status(VISITOR, page, page.form("register"))
        if "waiting for e-mail confirmation" in page.text.lower():
            return Status(WAITING, page)
        if word in ("new", "applicant", "pending"):
            return Status(APPLICANT, page)
        if word == "approved":
            return Status(MEMBER, page)
        if word in ("denied", "rejected"):
            r = _REASON.search(page.text)
            return Status(DENIED, page, reason=r.group(1).strip() if r else "")
        return Status(UNKNOWN, page)

    def submit_phase1(self, form: html.Form, ctx: StepContext) -> str:
        u = ctx.config.user
        values = {
            "firstName": u.given_name,
            "lastName": u.family_name,
            "institution": u.institution,
            "phone": u.phone,
            "email": u.email,
        }
        missing = [k for k, v in values.items() if not v and form.field(k) is not None]
        if missing:
            raise FormError(
                f"the VOMRS form needs {', '.join(missing)}.",
                "Set the matching [user] keys (given_name, family_name, institution, phone, email).",
            )
        data = [(n, v) for n, v in form.defaults() if n not in values] + [
            (k, v) for k, v in values.items() if form.field(k) is not None
        ]
        resp = self.http.post(urljoin(self.base + "/", form.action), data=data, idempotent=False)
        page = html.parse(resp.text)
        if resp.status_code >= 400 or page.errors:
            raise FormError(
                f"{self.host} refused the Phase I form: "
                + ("; ".join(m for _, m in page.errors) or f"HTTP {resp.status_code}")
                + "."
            )
        m = _NUMBER.search(page.text)
        return m.group(1) if m else ""

    def submit_phase2(self, form: html.Form, ctx: StepContext) -> tuple[str, list[str]]:
        reg = ctx.config.registration
        rep_field = form.field("representative")
        options = (
            rep_field.options
            if rep_field and rep_field.type == "select"
            else [(f.value, f.label or f.value) for f in form.choices("representative")]
        )
        rep = ""
        if options:
            wanted = reg.representative.lower()
            rep = next((v for v, t in options if wanted and (wanted == v.lower() or wanted in t.lower())), "")
            if not rep and len(options) == 1:
                rep = options[0][0]
            if not rep:
                raise FormError(
                    "VOMRS Phase II asks for a representative, and none was chosen.",
                    "Set registration.representative to one of: " + ", ".join(t for _, t in options) + ".",
                )
        groups = [
            f.value
            for f in form.choices("groups")
            if f.value in reg.groups or f.value.strip("/").split("/")[-1] in reg.groups
        ]
        data = [(n, v) for n, v in form.defaults() if n not in ("aup", "representative", "groups")]
        data += [("aup", "accepted"), ("representative", rep)] + [("groups", g) for g in groups]
        resp = self.http.post(urljoin(self.base + "/", form.action), data=data, idempotent=False)
        page = html.parse(resp.text)
        if (
            resp.status_code >= 400
            or page.errors
            or "phase ii registration submitted" not in page.text.lower()
        ):
            raise FormError(
                f"{self.host} refused the Phase II form: "
                + ("; ".join(m for _, m in page.errors) or page.title or f"HTTP {resp.status_code}")
                + "."
            )
        label = next((t for v, t in options if v == rep), rep)
        return label, groups


class VomrsRegistrar(Registrar):
    """VOMRS (retired upstream; kept working against the sandbox's emulation). Member means: the member
    page says "Membership status: Approved"."""

    kind = "vomrs"
    link_rule = LINKS

    def client(self, ctx: StepContext, url: str | None = None) -> Vomrs:
        url = url or flow.server_url(ctx)
        return Vomrs(self.http(ctx, url), url)

    def register(self, ctx: StepContext, url: str) -> None:
        client = self.client(ctx, url)
        extra = flow.extra(ctx)
        st = client.status()
        if st.state == VISITOR and st.form is not None:
            number = client.submit_phase1(st.form, ctx)
            ctx.record.artifacts.request_id = number
            flow.mark(ctx, "submitted")
            ctx.ui.say(
                f"VOMRS Phase I registration sent to {client.host}"
                + (f" (number {number})." if number else ".")
            )
            ctx.ui.explain(
                "VOMRS mails you a link; opening it makes you a candidate, then onboard does Phase II."
            )
            return
        if st.state in (WAITING, CANDIDATE):
            extra["registration"] = "submitted"
            ctx.ui.say(f"{client.host} already has your Phase I registration; nothing was sent again.")
            return
        if st.state == APPLICANT:
            extra["registration"] = "confirmed"
            return
        if st.state == MEMBER:
            extra["registration"] = "member"
            return
        if st.state == DENIED:
            raise Outcome(
                "rejected", f"VOMRS shows this certificate as denied{': ' + st.reason if st.reason else ''}"
            )
        raise RegistrationError(
            f"{client.host}: the VOMRS page is not one onboard knows ({st.page.title}).",
            "Open the VOMRS URL in a browser with your certificate.",
        )

    def classify_mail(self, msg: Message, vo: str, org: str = "") -> mails.MailEvent | None:
        subject, sender = mails.subject_of(msg), mails.sender_of(msg)
        low = subject.lower()
        if "[vomrs]" not in low or not mails.names_vo(subject, vo):
            return None
        if "confirm your registration" in low:
            return mails.MailEvent(mails.CONFIRM, subject, sender)
        if "has been approved" in low:
            return mails.MailEvent(mails.APPROVED, subject, sender)
        if "has been denied" in low or "has been rejected" in low:
            return mails.MailEvent(mails.REJECTED, subject, sender, mails.reason_in(mails.body_text(msg)))
        if "has expired" in low:
            return mails.MailEvent(mails.EXPIRED, subject, sender)
        return None

    def confirm(self, ctx: StepContext, url: str) -> None:
        """Open the Phase I link (checked), then fill in Phase II."""
        link = self.check_link(url, flow.server_url(ctx))
        client = self.client(ctx)
        resp = client.http.get(link.url)
        page = html.parse(resp.text)
        if resp.status_code >= 400 or not page.has("confirmed", "candidate"):
            raise RegistrationError(
                f"{client.host} did not accept the confirmation link ({page.title or resp.status_code}).",
                "Open the link in a browser with your certificate.",
            )
        if link.request_id:
            ctx.record.artifacts.request_id = link.request_id
        self._phase2(ctx, client)

    def _phase2(self, ctx: StepContext, client: Vomrs) -> None:
        st = client.status()
        extra = flow.extra(ctx)
        if st.state == CANDIDATE and st.form is not None:
            rep, groups = client.submit_phase2(st.form, ctx)
            flow.mark(ctx, "confirmed")
            ctx.ui.say(
                f"VOMRS Phase II done (representative: {rep or 'none'}"
                + (f"; groups: {', '.join(groups)}" if groups else "")
                + "); you are an applicant now."
            )
        elif st.state in (APPLICANT, MEMBER):
            extra["registration"] = "confirmed" if st.state == APPLICANT else "member"
        else:
            raise RegistrationError(
                f"{client.host}: after confirming, VOMRS shows '{st.state}'.",
                "Open the VOMRS URL in a browser with your certificate.",
            )

    def confirmed_elsewhere(self, ctx: StepContext) -> bool:
        client = self.client(ctx)
        st = client.status()
        if st.state == CANDIDATE:  # confirmed in a browser: Phase II is ours to do
            self._phase2(ctx, client)
            return True
        if st.state in (APPLICANT, MEMBER):
            flow.extra(ctx)["registration"] = "confirmed" if st.state == APPLICANT else "member"
            return True
        if st.state == VISITOR:
            raise Outcome("expired", "the Phase I registration is gone: it was not confirmed in time")
        return False

    def check_approval(self, ctx: StepContext, scan: Scan | None) -> approval.Verdict:
        verdict = approval.from_mail(scan)
        if verdict is not None:
            return verdict
        if scan is not None and ctx.config.registration.poll_method == "mail":
            return approval.Verdict(approval.PENDING, method="mail")
        st = self.client(ctx).status()
        if st.state == MEMBER:
            return approval.Verdict(approval.APPROVED, "membership status Approved", method="start")
        if st.state == DENIED:
            return approval.Verdict(
                approval.REJECTED, st.reason or "membership status Denied", method="start"
            )
        if st.state == VISITOR:
            return approval.Verdict(
                approval.EXPIRED, "the registration is no longer known to VOMRS", method="start"
            )
        return approval.Verdict(approval.PENDING, method="start")


REGISTRAR = VomrsRegistrar()
