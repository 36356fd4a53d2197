"""INDIGO IAM as a registrar (reference §4): JSON registration, mail confirmation, approval by mail, then
the browser steps (log in, set a password, link the certificate), with onboard detecting the link by
asking the VOMS attribute authority, which answers only for a linked certificate.

The X.509 certificate is not part of IAM registration; it is used here only for the VOMS-AA check.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin, urlsplit

from onboard import catalog
from onboard.errors import ConfigError, Exit, RegistrationError
from onboard.registration import approval, flow, iam_username, links, mails
from onboard.registration.answer import json_of
from onboard.registration.registrar import MemberRecord, Registrar
from onboard.registration.voms_admin import FormError

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

    from onboard.adapters.https import HTTPS
    from onboard.registration.flow import Scan
    from onboard.steps.context import StepContext

VERIFY_FAILED = ("Activation failed", "No registration request found")
# CernHrDbRequestValidatorService's refusal of a request without an external login (400, ErrorDTO)
NOT_AUTHENTICATED = "User is not authenticated"


def _base_path(path: str) -> str:
    """The IAM base URL may sit under a prefix; drop a trailing /start-registration, /login etc."""
    return re.sub(r"/(start-registration|registration.*|login|dashboard.*)$", "", path)


LINKS = links.LinkRule(
    base_path=_base_path,
    path=re.compile(rf"^/registration/verify/({links.UUID})$"),  # the key is the path's last part
    reportable="/registration/verify",
)


def base_url(url: str) -> str:
    return links.Server.from_url(url, LINKS).base_url()


def username_for(ctx: StepContext) -> str:
    """registration.username, else one derived from the e-mail address, else asked for; always checked
    against IAM's rule first (IAM refuses the request otherwise)."""
    name = ctx.config.registration.username or iam_username.derive(ctx.config.user.email)
    if not name:
        name = ctx.ui.ask(
            f"No IAM username can be made from {ctx.config.user.email}; the username to ask for",
            key="registration.username",
        ).strip()
    if not iam_username.valid(name):
        raise FormError(
            f"{name!r} is not a username IAM accepts (lower case letters, digits and _ @ . -, "
            "starting with a letter or _, at most 32 characters).",
            "Set registration.username to one that is, e.g. "
            f"{iam_username.derive(name + '@x') or 'jdoe'!r}; then `onboard resume`.",
        )
    return name


def _voms_error(text: str) -> tuple[str, str]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return "", ""
    err = root.find("error")
    if err is None:
        item = root.find("error/item")
        if item is None:
            return "", ""
        return (item.findtext("number") or "").strip(), (item.findtext("message") or "").strip()
    return (err.findtext("code") or "").strip(), (err.findtext("message") or "").strip()


def _json(resp: Any, host: str) -> dict[str, Any]:
    data = json_of(resp, RegistrationError(
        f"{host}: the registration answer was not JSON.",
        "Is vos.<vo>.url the IAM base URL (https://host)?",
        exit_code=Exit.SERVER,
    ))
    return data if isinstance(data, dict) else {}


def _error(resp: Any) -> str:
    try:
        data = resp.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the stack
        return resp.text[:200]
    if isinstance(data, dict):
        data = data.get("error") or data.get("message") or data
    return str(data)[:300]


class IamRegistrar(Registrar):
    """INDIGO IAM through its JSON registration API. Member means: approved (the "account is now active"
    mail), then the certificate linked to the account in a browser (the VOMS-AA answers for it)."""

    kind = "iam"
    link_rule = LINKS
    system_roots = True

    def member_record(self, ctx: StepContext) -> MemberRecord:
        """IAM shows the account's state and AUP signature (GET /scim/Me, /iam/aup/signature) only to a
        logged-in session or an OAuth token (IamApiSecurityConfig), but its VOMS-AA answers the certificate
        itself: attributes for an active member, else its refusal ("... is not active.", "... needs to
        sign AUP ..."). When the AUP signature lapses is not shown; IAM mails a reminder."""
        state, detail = self.aa_status(ctx)
        if state == "linked":
            return MemberRecord({"suspended": False}, why="IAM does not show a certificate when the AUP "
                                "signature lapses", todo="IAM mails a reminder before; onboard reads it when "
                                "[mail] is configured.")
        if state == "unknown-user":
            return MemberRecord(absent=True, why=f"IAM's VOMS-AA does not know this certificate ({detail})",
                                todo="Link it to your account on the IAM dashboard (X.509 certificates).")
        return MemberRecord(refusal=detail, why=f"IAM's VOMS-AA refuses: {detail}")

    def register(self, ctx: StepContext, url: str) -> None:
        extra = flow.extra(ctx)
        if ctx.record.artifacts.request_id:
            extra.setdefault("registration", "submitted")
            return
        base = base_url(url)
        host = urlsplit(base).hostname or base
        http = self.http(ctx, base)
        user = ctx.config.user
        if not (user.given_name and user.family_name and user.email):
            raise FormError(
                "IAM needs a given name, a family name and an e-mail address.",
                "Set user.given_name, user.family_name and user.email.",
            )
        # idempotent: an address IAM already knows means an earlier run (or the user) registered already
        resp = http.get(
            f"{base}/registration/email-available/{quote(user.email, safe='@')}",
            headers={"Accept": "application/json"},
        )
        if resp.status_code == 200 and resp.text.strip().lower() == "false":
            extra["registration"] = "submitted"
            ctx.ui.say(
                f"{host} already knows {user.email}: an earlier request exists; nothing was sent again."
            )
            return
        body = {
            "username": username_for(ctx),
            "givenname": user.given_name,
            "familyname": user.family_name,
            "email": user.email,
            "notes": ctx.config.registration.message or f"Joining VO {ctx.vo} (via onboard).",
        }
        resp = http.post(
            f"{base}/registration/create", json=body, idempotent=False, headers={"Accept": "application/json"}
        )
        if resp.status_code == 400 and _error(resp) == NOT_AUTHENTICATED:
            # an IAM that registers only after a login (CERN's `cern` profile): nothing was registered
            raise ConfigError(
                f"{host} registers only people logged in with its single sign-on (it answered "
                f"\"{NOT_AUTHENTICATED}\").",
                f"Set vos.{ctx.vo}.registration = \"browser-login\": onboard then guides the browser "
                "steps; `onboard reset` and `onboard start` again.",
            )
        if resp.status_code == 400:
            raise FormError(
                f"{host} refused the registration: {_error(resp)}.",
                "Fix the [user] values (or registration.username), then `onboard resume`.",
            )
        if resp.status_code >= 400:
            raise RegistrationError(
                f"{host} answered HTTP {resp.status_code} to the registration.",
                "`onboard resume` tries again; check vos.<vo>.url if it persists.",
            )
        data = _json(resp, host)
        ctx.record.artifacts.request_id = str(data.get("uuid", ""))
        flow.mark(ctx, "submitted", iam_username=data.get("username", body["username"]))
        ctx.ui.say(
            f"Registration request {ctx.record.artifacts.request_id} sent to {host} "
            f"(username {extra['iam_username']})."
        )
        ctx.ui.explain("IAM now mails you a link to confirm the request.")

    def classify_mail(self, msg: Message, vo: str, org: str = "") -> mails.MailEvent | None:
        subject, sender = mails.subject_of(msg), mails.sender_of(msg)
        low = subject.lower()
        # [<org> IAM] prefix; the organisation may be named differently from the VO (cms vs CMS)
        names = {vo.lower(), org.lower()} - {""}
        if not any(n in low for n in names):
            return None
        if re.search(r"confirm your .* registration request", low):
            return mails.MailEvent(mails.CONFIRM, subject, sender)
        if re.search(r"your .* account is now active", low):
            return mails.MailEvent(mails.APPROVED, subject, sender)
        if re.search(r"your request for an? .* account has been rejected", low):
            return mails.MailEvent(mails.REJECTED, subject, sender, mails.reason_in(mails.body_text(msg)))
        return None

    def confirm(self, ctx: StepContext, url: str) -> None:
        """POST /registration/verify token=<key> (IAM >= 1.11), else GET /registration/verify/<key>."""
        link = self.check_link(url, flow.server_url(ctx))
        base = base_url(flow.server_url(ctx))
        http = self.http(ctx, base)
        resp = http.post(f"{base}/registration/verify", data={"token": link.token}, idempotent=False)
        if resp.status_code in (404, 405):
            resp = http.get(link.url)  # IAM <= 1.10 confirmed on GET
        if resp.is_redirect:  # a Location may be relative (RFC 9110)
            resp = http.get(urljoin(resp.url or base, resp.headers.get("Location", "")))
        text = resp.text if resp.status_code < 500 else ""
        if resp.status_code >= 400 or any(p.lower() in text.lower() for p in VERIFY_FAILED):
            raise RegistrationError(
                f"{urlsplit(base).hostname} did not accept the confirmation "
                f"(HTTP {resp.status_code}): the request may have expired or been confirmed already.",
                "Open the link in a browser to see what IAM says.",
            )
        flow.mark(ctx, "confirmed")
        ctx.ui.say("Registration confirmed; the IAM administrators have been told.")

    # IAM has no anonymous status page: the mail (or `onboard confirm`) is the way; confirmed_elsewhere
    # stays False

    def check_approval(self, ctx: StepContext, scan: Scan | None) -> approval.Verdict:
        """With a mailbox: the approval/rejection mail. Without: the VOMS-AA (approved and linked at once)."""
        verdict = approval.from_mail(scan)
        if verdict is not None:
            if verdict.status == approval.APPROVED:
                flow.extra(ctx)["iam_approved"] = True
            return verdict
        if scan is not None:
            return approval.Verdict(approval.PENDING, method="mail")
        state, _ = self.aa_status(ctx)
        if state == "linked":
            flow.extra(ctx)["iam_linked"] = True
            return approval.Verdict(approval.APPROVED, "the VOMS-AA knows your certificate", method="aa")
        self.explain_linking(ctx)
        return approval.Verdict(approval.PENDING, method="aa")

    def link_certificate(self, ctx: StepContext) -> None:
        """One request to the VOMS attribute authority, which issues an attribute certificate only for a
        linked certificate; the browser steps are explained once."""
        extra = flow.extra(ctx)
        if extra.get("iam_linked"):
            return
        state, detail = self.aa_status(ctx)
        if state == "linked":
            extra["iam_linked"] = True
            ctx.ui.say(f"Your certificate is linked: the VOMS attribute authority of VO {ctx.vo} knows it.")
            return
        if state == "refused":
            raise RegistrationError(
                f"the VOMS attribute authority refuses your certificate ({detail}).",
                "Sign the VO's usage policy on the IAM dashboard, or ask the VO's administrators.",
            )
        self.explain_linking(ctx)
        raise ctx.wait(
            f"your certificate to be linked to your IAM account for VO {ctx.vo}",
            after_seconds=ctx.backoff(),
            hint="Do the browser steps shown above; `onboard resume` checks again.",
        )

    def explain_linking(self, ctx: StepContext) -> None:
        extra = flow.extra(ctx)
        if extra.get("explained_linking"):
            return
        base = base_url(flow.server_url(ctx))
        user = extra.get("iam_username") or username_for(ctx)
        ctx.ui.say("Three steps in a browser are needed now (IAM does them only there):")
        ctx.ui.say(
            "  1. Open the link of the mail 'Your ... account is now active' and set a password "
            f"(your username is {user})."
        )
        ctx.ui.say(
            f"  2. Import your certificate into the browser (the .p12 that onboard made), "
            f"then log in at {base}/login."
        )
        ctx.ui.say(
            "  3. On your dashboard, under 'X.509 certificates', choose 'Link certificate' and pick this one."
        )
        ctx.ui.explain("onboard notices by itself once the VOMS attribute authority knows your certificate.")
        extra["explained_linking"] = True

    def aa_url(self, ctx: StepContext) -> str:
        """The VOMS-AA generate-ac URL: config, else the VO's vomses line, else the IAM URL."""
        if ctx.config.registration.voms_aa_url:
            return ctx.config.registration.voms_aa_url
        try:
            entry = catalog.lookup(ctx.vo, ctx.config)
            if entry is not None and entry.vomses:
                line = catalog.parse_vomses(entry.vomses[0])
                return f"https://{line.host}:{line.port}/generate-ac"
        except ValueError:  # a vomses line that does not parse: the IAM URL is the better guess
            pass
        return base_url(flow.server_url(ctx)) + "/generate-ac"

    def aa_status(self, ctx: StepContext) -> tuple[str, str]:
        """One request to the VOMS-AA: ("linked", "") or ("unknown-user", code) or ("refused", message)."""
        url = self.aa_url(ctx)
        http = self.http(ctx, url)
        resp = http.get(f"{url}?fqans=/{quote(ctx.vo)}&lifetime=60", headers={"Accept": "text/xml"})
        code, message = _voms_error(resp.text)
        if resp.status_code == 200 and not code:
            return "linked", ""
        if code in ("NoSuchUser", "1001") or (resp.status_code in (401, 403) and not code):
            return "unknown-user", code or str(resp.status_code)
        if resp.status_code >= 500:
            raise RegistrationError(
                f"the VOMS-AA at {urlsplit(url).netloc} answered HTTP {resp.status_code}.",
                "`onboard resume` tries again later.",
            )
        return "refused", f"{code}: {message}" if code else f"HTTP {resp.status_code}"


    # the second year: the new certificate linked to the account, as the first time (iam_certificates.py)
    def add_certificate(self, ctx: StepContext, known: Callable[[], HTTPS]) -> str:
        from onboard.registration import iam_certificates

        return iam_certificates.ask(ctx, base_url(flow.server_url(ctx)))

    def certificate_added(self, ctx: StepContext, known: Callable[[], HTTPS]) -> str:
        self.link_certificate(ctx)  # waits until the VOMS-AA answers for the new certificate
        return "known"


REGISTRAR = IamRegistrar()
