"""What the register, confirm_email, await_approval and link_certificate steps share: the server of the
journey, its per-run HTTPS session, the mailbox, the user's identity, and the mail scan.

Facts kept in `record.artifacts.extra` (all public): `registration` = submitted | confirmed | member
(where the request stands as far as onboard knows), `submitted_at`, `expires`, `refused_links`,
`approval_method`, `iam_approved`, `explained_linking`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from onboard.registration import links, mails, registration_kind, registration_url

if TYPE_CHECKING:
    from onboard.adapters.https import HTTPS
    from onboard.adapters.mail import Mailbox
    from onboard.registration.identity import CertIdentity
    from onboard.steps.context import StepContext

STALE_MARGIN = timedelta(
    minutes=10
)  # a mail older than the submission (minus clock skew) is an old journey's


def kind(ctx: StepContext) -> str:
    return registration_kind(ctx.config, ctx.vo, ctx.record.workflow)


def server_url(ctx: StepContext) -> str:
    """The registration URL of this journey: fixed at the first registration, from config/catalog before."""
    arts = ctx.record.artifacts
    if not arts.registration_url:
        arts.registration_url = registration_url(ctx.config, ctx.vo)
    return arts.registration_url


def http(ctx: StepContext, url: str | None = None, *, with_cert: bool = True) -> HTTPS:
    """The per-run HTTPS session for the server of `url` (one TLS handshake per host per run)."""
    from onboard.adapters import https

    url = url or server_url(ctx)
    netloc = urlsplit(url).netloc.lower()

    def make() -> HTTPS:
        ident = None
        if with_cert:
            ident = https.identity_from(ctx.record, ctx.config, lambda: ctx.secrets.passphrase())
        extra_roots = kind(ctx) == "iam"  # IAM front ends often use public CAs; VOMS-Admin the IGTF ones
        return https.for_server(
            f"https://{netloc}",
            ctx.config,
            ident,
            system_roots=extra_roots,
            trust=ctx.options.get("trust_dir"),
        )

    return ctx.resource(f"https:{netloc}:{'cert' if with_cert else 'anon'}", make)


def mailbox(ctx: StepContext) -> Mailbox | None:
    from onboard.adapters.mail import open_mailbox

    if "mailbox" in ctx.options:  # a test or the bench hands one in
        return ctx.options["mailbox"]
    return ctx.resource("mailbox", lambda: open_mailbox(ctx.config.mail, ctx.secrets))


def identity(ctx: StepContext) -> CertIdentity:
    """Subject and issuer of the user's certificate (OpenSSL form), remembered in the record."""
    from onboard.adapters.https import identity_from
    from onboard.registration.identity import CertIdentity, read_identity

    cert = ctx.record.artifacts.certificate
    if cert.subject_dn and cert.issuer_dn:
        return CertIdentity(cert.subject_dn, cert.issuer_dn, "", "")
    ident = read_identity(identity_from(ctx.record, ctx.config, lambda: "").cert)
    cert.subject_dn, cert.issuer_dn = ident.subject, ident.issuer
    return ident


def extra(ctx: StepContext) -> dict[str, Any]:
    return ctx.record.artifacts.extra


def since(ctx: StepContext) -> datetime | None:
    raw = extra(ctx).get("submitted_at")
    if not raw:
        return None
    when = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
    return when - STALE_MARGIN


@dataclass
class Scan:
    """What the mailbox says about this journey's request."""

    confirmation: links.Confirmation | None = None
    events: list[mails.MailEvent] | None = None
    refused: list[str] | None = None

    def last(self, *what: str) -> mails.MailEvent | None:
        return next((e for e in reversed(self.events or []) if e.what in what), None)


def scan_mail(ctx: StepContext, box: Mailbox) -> Scan:
    """Read the mailbox (no request to the registration server): events and the newest safe link."""
    k, url = kind(ctx), server_url(ctx)
    org = ctx.config.registration.organisation or ctx.vo
    after = since(ctx)
    scan = Scan(events=[], refused=[])
    for mail in box.messages(since=after):
        if after and mail.received and mail.received < after:
            continue
        event = mails.classify(mail.message, k, ctx.vo, org)
        if event is None or not mails.sender_ok(event.sender, ctx.config.registration.mail_from):
            continue
        scan.events.append(event)
        if event.what == mails.CONFIRM:
            good, refused = links.find_confirmation(mail.message, url, k)
            scan.refused += refused
            if good is not None:
                scan.confirmation = good  # the newest wins: mails come oldest first
    return scan


def report_refused(ctx: StepContext, refused: list[str]) -> None:
    """Warn once per refused link, and keep the list (public: these are links we did not open)."""
    seen = extra(ctx).setdefault("refused_links", [])
    for msg in refused:
        if msg not in seen:
            ctx.ui.warn(msg + " It was not opened.")
            seen.append(msg)
