"""The interface of a registration service: what the register, confirm_email, await_approval and
link_certificate steps ask of VOMS-Admin, INDIGO IAM or VOMRS, without knowing which one it is.

One implementation per service (`REGISTRAR` in its module), found by `onboard.registration.get(kind)`.
A registrar owns everything about its service: how a request is sent (once), which mails are its own and
what each announces, what its confirmation link looks like and how it is followed, what "member" means
and how it is asked, and what the user is told along the way (each method's messages).

Two shapes the interface keeps room for, so that a new service needs a registrar, not a branch:

* **Submits or guides** (`mode`). A registrar that *submits* sends the request itself (a form, a JSON
  API). A registrar that *guides* cannot: the service wants a browser login first (CERN's IAM: a CERN SSO
  account logs in, registers, confirms the mail, waits for approval, then links the certificate from the
  logged-in browser session). `iam_browser.py` is that registrar (kind `iam-browser-login`, for an IAM
  VO whose catalog entry says `registration = "browser-login"`): `register` shows the browser steps and
  raises `ctx.wait(...)` until a public signal (IAM's `registration/email-available/<address>` answering
  false) shows the request exists; `confirm` shows the link and leaves the click to the browser;
  `check_approval` and `link_certificate` watch what can be seen without the session (the approval mail,
  the VOMS-AA). The steps call the same methods either way; a command that must act differently
  (`onboard confirm URL` cannot confirm for a browser session) asks `registrar.mode`, never the name.
* **"You may not ask"** (`approval.NOT_ALLOWED`). A server may refuse to say where a request stands (VOMS-
  Admin with read access removed: 401/403, or HTTP 200 carrying a JSON exception report
  `{"exceptionClass": "...VOMSAuthorizationException", ...}`). `check_approval` then answers
  `NOT_ALLOWED`, distinct from `PENDING` ("not yet") and `APPROVED` ("member"), and may name another way
  of asking from now on (`Verdict.switch_to`). It never concludes "approved" from such an answer.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onboard.errors import MailError, NotImplementedStep
from onboard.registration import flow, links, mails

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import Message

    from onboard.adapters.https import HTTPS
    from onboard.adapters.mail import Mailbox
    from onboard.registration.approval import Verdict
    from onboard.registration.flow import Scan
    from onboard.steps.context import StepContext


class Mode(enum.Enum):
    SUBMITS = "submits"  # onboard sends the request itself
    GUIDES = "guides"  # the person registers in a browser; onboard shows the way and watches public signals


@dataclass
class MemberRecord:
    """A member's own record as the service shows it (VOMSUserJSON's fields), or why there is none:
    `absent` when the service does not know the certificate at all (HTTP 404), `refusal` when it refuses
    the member in its own words."""

    record: dict[str, Any] | None = None
    why: str = ""
    todo: str = ""
    absent: bool = False
    refusal: str = ""  # the service's own words refusing the member (a VOMS-AA's error message)


class Registrar(abc.ABC):
    """One registration service, as the steps see it (see the module's docstring)."""

    kind: str = ""  # its name in the table: catalog `kind`, config vos.<vo>.kind, workflow name
    mode: Mode = Mode.SUBMITS
    link_rule: links.LinkRule  # what its confirmation link looks like
    system_roots: bool = False  # trust public CAs too (IAM front ends use them; VOMS servers IGTF ones)

    def http(self, ctx: StepContext, url: str | None = None) -> HTTPS:
        """The run's HTTPS session (with the user's certificate) for the server of `url`."""
        return flow.http(ctx, url, system_roots=self.system_roots)

    # -- register ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def register(self, ctx: StepContext, url: str) -> None:
        """Send the request once: ask the server first whether one exists (idempotent across runs and
        crashes), submit only if not, `ctx.checkpoint()` right after the submission. Sets
        extra["registration"] to submitted, confirmed or member: where the request stands."""

    # -- confirm ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def classify_mail(self, msg: Message, vo: str, org: str = "") -> mails.MailEvent | None:
        """The event this service's mail announces for `vo` (`org`: how IAM names the VO), or None."""

    def check_link(self, url: str, registration_url: str) -> links.Confirmation:
        """The confirmation link to open, or links.UnsafeLink (never contacted)."""
        return links.check_link(url, registration_url, self.link_rule)

    def find_confirmation(
        self, msg: Message, registration_url: str
    ) -> tuple[links.Confirmation | None, list[str]]:
        """The safe confirmation link in one of this service's mails, and why the others were refused."""
        return links.find_confirmation(msg, registration_url, self.link_rule)

    @abc.abstractmethod
    def confirm(self, ctx: StepContext, url: str) -> None:
        """Check and follow a confirmation link (found in a mail or pasted), record the confirmation."""

    def confirm_hint(self, has_mailbox: bool) -> str:
        """What the user can do while onboard waits for the confirmation mail."""
        if not has_mailbox:
            return (
                "Open the link in the mail from the VO with your certificate in the browser, or run "
                "`onboard confirm URL` with it; onboard notices either."
            )
        return "Check the spam folder too; `onboard confirm URL` takes the link by hand."

    def confirmed_elsewhere(self, ctx: StepContext) -> bool:
        """One request: was the request confirmed by hand (browser, `onboard confirm`)? May raise
        Outcome("expired") when it is gone. Services with no anonymous status page say False."""
        return False

    # -- approval ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def check_approval(self, ctx: StepContext, scan: Scan | None) -> Verdict:
        """One check: the mail first (`scan`: None without a mailbox), then at most one request.
        Each implementation says what "member" means for its service."""

    def approval_hint(self) -> str:
        """What the user is told while the VO administrators decide."""
        return "This can take days; `onboard resume` checks again (or `onboard resume --wait`)."

    # -- after approval ---------------------------------------------------------------------------
    def link_certificate(self, ctx: StepContext) -> None:
        """Return once the certificate is tied to the membership; raise ctx.wait(...) until then.
        Services that register the certificate itself are done at approval."""
        return None

    # -- the second year (onboard check) ---------------------------------------------------------
    def member_record(self, ctx: StepContext) -> MemberRecord:
        """What the service tells a member about itself (end, suspension, AUP), read with the client
        certificate: a record shaped like VOMS-Admin's VOMSUserJSON, or why there is none. By default the
        service tells nothing onboard can read."""
        return MemberRecord(why=f"{self.kind} tells a member nothing about its membership that onboard can "
                            "read", todo="Ask the VO's administrators when your membership ends.")

    # -- the second year: a new certificate for the same membership -------------------------------
    def add_certificate(self, ctx: StepContext, known: Callable[[], HTTPS]) -> str:
        """Ask the VO, once, to know the record's (new) certificate the way the service supports it, never
        by a second registration; `known()` gives a session made with the previous certificate, which the
        VO knows. Returns "known" (it does already) or "requested"."""
        raise NotImplementedStep(
            f"telling a {self.kind} VO about a new certificate is not implemented.",
            f"Ask the VO's administrators to add {flow.identity(ctx).subject} to your membership.")

    def certificate_added(self, ctx: StepContext, known: Callable[[], HTTPS]) -> str:
        """One check after add_certificate: "known", or "rejected"; raises ctx.wait(...) while undecided."""
        raise NotImplementedStep(f"telling a {self.kind} VO about a new certificate is not implemented.",
                                 "Ask the VO's administrators to add it to your membership.")

    # -- the mailbox ------------------------------------------------------------------------------
    def scan_mail(self, ctx: StepContext, box: Mailbox) -> Scan:
        """Read the mailbox (no request to the registration server): this service's mails about this
        journey's request, and every safe confirmation link (which one is ours: Scan.confirmation_for)."""
        url = flow.server_url(ctx)
        org = ctx.config.registration.organisation or ctx.vo
        after = flow.since(ctx)
        scan = flow.Scan(events=[], refused=[])
        for mail in box.messages(since=after):
            if after and mail.received and mail.received < after:
                continue
            try:
                event = self.classify_mail(mail.message, ctx.vo, org)
                if event is None or not mails.sender_ok(event.sender, ctx.config.registration.mail_from):
                    continue
                good, refused = (
                    self.find_confirmation(mail.message, url) if event.what == mails.CONFIRM else (None, [])
                )
            except MailError as e:  # anyone can send such a mail: say so, and read the others
                scan.refused.append(f"{mails.subject_of(mail.message)[:80]!r}: {e.message}")
                continue
            scan.events.append(event)
            scan.refused += refused
            if good is not None:
                scan.add(good)
        return scan
