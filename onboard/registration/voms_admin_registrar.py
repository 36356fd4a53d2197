"""VOMS-Admin as a registrar: the request sent from the start page's form, the `[VOMS Admin]` mails, the
confirm-request link, and approval read from the mail, apiv2/user-info or the start page.

The pages themselves (what the start page says, filling the form, the confirmation's follow-up forms)
are the client's, onboard.registration.voms_admin.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from onboard.errors import Outcome
from onboard.registration import approval, flow, links, mails
from onboard.registration.approval import APPROVED, NOT_ALLOWED, PENDING, REJECTED, UNCONFIRMED, Verdict
from onboard.registration.registrar import MemberRecord, Registrar
from onboard.registration.voms_admin import Start, VomsAdmin, base_path, manager_name

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

    from onboard.adapters.https import HTTPS
    from onboard.registration.flow import Scan
    from onboard.steps.context import StepContext

REJECTED_GONE = (
    "the request is no longer on the server after it was confirmed: the VO administrators rejected it"
)
HARDCODED_PORT = 8443  # URLBuilder.buildAdminServiceBaseURL writes it into links (reference §1.4)


LINKS = links.LinkRule(
    base_path=base_path,
    path=re.compile(r"^/register/confirm-request\.action$"),
    query={"requestId": re.compile(r"^\d{1,19}$"), "confirmationId": re.compile(f"^{links.UUID}$")},
    request_id="requestId",
    token="confirmationId",
    reportable="/register/confirm-request.action",  # not the cancel link of the same mail
    foreign_ports=frozenset({HARDCODED_PORT}),
)


def method_for(configured: str, has_mail: bool, remembered: str = "") -> str:
    """How to ask: `auto` is `api` when mail is read (the mail tells rejections apart) and `start`
    otherwise (the start page alone tells approved, pending and gone apart). A server that does not
    allow `api` makes onboard remember `start` for good."""
    if remembered:
        return remembered
    if configured != "auto":
        return configured
    return "api" if has_mail else "start"


def check_voms_admin(client: VomsAdmin, method: str, dn: str, ca: str, scan: Scan | None = None) -> Verdict:
    """One check: the mail first (free), then at most one request by `method`.

    Member means: apiv2/user-info knows the certificate, or the start page sends it to the user's home."""
    verdict = approval.from_mail(scan)
    if verdict is not None:
        return verdict
    if method == "mail":
        return Verdict(PENDING, method="mail")
    if method == "api":
        info = client.user_info(dn, ca)
        if info.refused:  # never "approved" from a refusal, whatever its status line
            why = (
                f"{client.host} does not let a certificate that is not yet a member read where it stands "
                f"({info.refused}; the VO removed read access for authenticated clients), so onboard asks "
                "the start page from now on (it sends members to their home)"
                + (" and reads the approval mail" if scan is not None else "")
            )
            return Verdict(NOT_ALLOWED, why, method="api", switch_to="start")
        if info.user is not None:
            fqans = info.user.get("fqans")
            fqans = [str(f) for f in fqans] if isinstance(fqans, list) else []
            return Verdict(APPROVED, "apiv2/user-info knows the certificate", fqans, method="api")
        return Verdict(PENDING, method="api")
    start = client.start()
    if start.kind is Start.MEMBER:
        return Verdict(APPROVED, "the start page sends the certificate to the member's home", method="start")
    if start.kind is Start.LIMBO:
        return Verdict(PENDING, method="start")
    if start.kind is Start.WAITS_CONFIRMATION:
        return Verdict(UNCONFIRMED, "the server still waits for the e-mail confirmation", method="start")
    if start.kind is Start.FORM:
        return Verdict(REJECTED, REJECTED_GONE, method="start")
    return Verdict(PENDING, f"the start page was not understood ({start.kind.value})", method="start")


class VomsAdminRegistrar(Registrar):
    kind = "voms-admin"
    link_rule = LINKS

    def member_record(self, ctx: StepContext) -> MemberRecord:
        """apiv2/user-info for one's own certificate: a member may always read itself (FindUserOperation),
        but a VO may still refuse (read access removed): then there is no record, and why."""
        ident = flow.identity(ctx)
        info = self.client(ctx).user_info(ident.subject, ident.issuer)
        if info.refused:
            return MemberRecord(why=f"{self.client(ctx).host} does not tell ({info.refused})",
                                todo="Its VOMS-Admin home page, in a browser with your certificate, shows "
                                "your membership.")
        if info.status == 404:
            return MemberRecord(absent=True, why=f"{self.client(ctx).host} does not know this certificate",
                                todo="If you were a member with another certificate, ask the VO to add this "
                                "one (`onboard renew`); else register (`onboard start`).")
        if info.user is None:
            return MemberRecord(why=f"{self.client(ctx).host} answered without a member record "
                                f"(HTTP {info.status})")
        return MemberRecord(info.user)

    def client(self, ctx: StepContext, url: str | None = None) -> VomsAdmin:
        url = url or flow.server_url(ctx)
        return VomsAdmin(self.http(ctx, url), url)

    def register(self, ctx: StepContext, url: str) -> None:
        client = self.client(ctx, url)
        extra = flow.extra(ctx)
        ctx.ui.explain(
            f"Your browser would show {client.url('register/start.action')} with your certificate; "
            "onboard reads the same page to see whether a request exists already."
        )
        start = client.start()
        if start.kind is Start.MEMBER:
            extra["registration"] = "member"
            ctx.ui.say(f"Your certificate is already a member of VO {client.vo}: nothing to register.")
            return
        result = client.submit(ctx.config.user, ctx.config.registration.message, start)
        if result.submitted:
            flow.mark(ctx, "submitted", expires=result.expires)  # sent: never again, whatever comes next
            ctx.ui.say(f"Registration request sent to {client.host} for VO {client.vo}.")
            ctx.ui.explain(
                "The server now mails you a link to confirm the request"
                + (f", valid until {result.expires}." if result.expires else ".")
            )
        elif result.kind == "existing-unconfirmed":
            extra["registration"] = "submitted"
            ctx.ui.say(
                f"{client.host} already has your request for VO {client.vo}, waiting for the e-mail "
                "confirmation; nothing was sent again."
            )
        elif result.kind == "existing-pending":
            extra["registration"] = "confirmed"
            ctx.ui.say(
                f"{client.host} already has your confirmed request for VO {client.vo}; "
                "it waits for the VO administrators."
            )
        else:
            extra["registration"] = "member"
            ctx.ui.say(f"Your certificate is already a member of VO {client.vo}.")

    def classify_mail(self, msg: Message, vo: str, org: str = "") -> mails.MailEvent | None:
        subject, sender = mails.subject_of(msg), mails.sender_of(msg)
        low = subject.lower()
        if "[voms admin]" not in low:
            return None
        body = mails.body_text(msg)
        if "has expired" in low or "has expired" in body.lower():
            return (
                mails.MailEvent(mails.EXPIRED, subject, sender)
                if mails.names_vo(subject + " " + body, vo)
                else None
            )
        if not mails.names_vo(subject, vo):
            return None
        if "your membership request for vo" in low:
            return mails.MailEvent(mails.CONFIRM, subject, sender)
        if low.endswith("has been approved."):
            return mails.MailEvent(mails.APPROVED, subject, sender)
        if low.endswith("has been rejected."):
            return mails.MailEvent(mails.REJECTED, subject, sender, mails.reason_in(body))
        return None

    def confirm(self, ctx: StepContext, url: str) -> None:
        link = self.check_link(url, flow.server_url(ctx))
        reg = ctx.config.registration
        result = self.client(ctx).confirm(
            link.url, choose_manager=_manager_chooser(ctx, reg.group_manager), groups=reg.groups
        )
        ctx.record.artifacts.request_id = link.request_id
        flow.mark(ctx, "confirmed")
        more = f" (group manager: {result.manager})" if result.manager else ""
        more += f" (groups requested: {', '.join(result.groups)})" if result.groups else ""
        ctx.ui.say(f"Request {link.request_id} confirmed{more}; the VO administrators have been told.")

    def confirmed_elsewhere(self, ctx: StepContext) -> bool:
        """The start page: limbo means confirmed (by hand), the form again means the request is gone."""
        extra = flow.extra(ctx)
        start = self.client(ctx).start()
        if start.kind is Start.LIMBO:
            extra["registration"] = "confirmed"
            ctx.ui.say("The request was confirmed (by hand); it waits for the VO administrators.")
            return True
        if start.kind is Start.MEMBER:
            extra["registration"] = "member"
            return True
        if start.kind is Start.FORM:
            raise Outcome(
                "expired",
                "the request is no longer on the server: it was not confirmed in time (or was cancelled)",
            )
        return False

    def check_approval(self, ctx: StepContext, scan: Scan | None) -> Verdict:
        extra = flow.extra(ctx)
        ident = flow.identity(ctx)
        method = method_for(
            ctx.config.registration.poll_method, scan is not None, extra.get("approval_method", "")
        )
        verdict = check_voms_admin(self.client(ctx), method, ident.subject, ident.issuer, scan)
        if verdict.switch_to:
            extra["approval_method"] = verdict.switch_to
        return verdict

    # the second year: VOMS-Admin's certificate request for an existing member (voms_admin_certificates.py)
    def add_certificate(self, ctx: StepContext, known: Callable[[], HTTPS]) -> str:
        from onboard.registration import voms_admin_certificates

        return voms_admin_certificates.ask(ctx, known())

    def certificate_added(self, ctx: StepContext, known: Callable[[], HTTPS]) -> str:
        from onboard.registration import voms_admin_certificates

        return voms_admin_certificates.decided(ctx, known())


def _manager_chooser(ctx: StepContext, wanted: str):
    """The group manager to hand the request to: as configured, the only one, or the user's choice."""

    def choose(options: list[tuple[str, str]]) -> str | None:
        if wanted:  # by the visible name: the exact name first, then a part of one
            low = wanted.strip().lower()
            names = [(value, manager_name(text).lower()) for value, text in options]
            for value, name in names:
                if low in (value.lower(), name):
                    return value
            for value, name in names:
                if low in name:
                    return value
        if len(options) == 1:
            return options[0][0]
        if ctx.ui.interactive and not wanted:
            for i, (_, text) in enumerate(options, 1):
                ctx.ui.say(f"  {i}. {text}")
            answer = ctx.ui.ask(
                "Which group manager should handle your request (number)", key="registration.group_manager"
            )
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1][0]
        return None

    return choose


REGISTRAR = VomsAdminRegistrar()
