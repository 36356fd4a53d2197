"""What the register, confirm_email, await_approval and link_certificate steps share, whichever the
service: which service and server the journey uses, the per-run HTTPS session, the mailbox, the user's
identity, what a mail scan found.

Facts kept in `record.artifacts.extra` (all public): `registration` = submitted | confirmed | member
(where the request stands as far as onboard knows), `submitted_at`, `expires`, `refused_links`,
`approval_method`, `iam_approved`, `explained_linking`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from onboard import catalog
from onboard.errors import ConfigError, Exit, RegistrationError
from onboard.registration import links, mails

if TYPE_CHECKING:
    from onboard.adapters.https import HTTPS
    from onboard.adapters.mail import Mailbox
    from onboard.config import Config
    from onboard.registration.identity import CertIdentity
    from onboard.steps.context import StepContext

STALE_MARGIN = timedelta(
    minutes=10
)  # a mail older than the submission (minus clock skew) is an old journey's


def _shipped(vo: str) -> catalog.VOEntry | None:
    """The shipped catalog's entry (config left out: the caller looks at config first)."""
    try:
        return catalog.lookup(vo)
    except (ValueError, OSError):  # a broken catalog must not hide the config
        return None


def registration_url(cfg: Config, vo: str) -> str:
    """The VO's registration URL: config vos.<vo>.url first, then the shipped catalog."""
    entry = cfg.vos.get(vo)
    url = entry.url if entry and entry.url else ""
    if not url:
        shipped = _shipped(vo)
        url = shipped.url if shipped is not None else ""
    if not url:
        raise ConfigError(
            f"no registration URL is known for VO '{vo}'.",
            f"Set vos.{vo}.url in the configuration (e.g. https://host:8443/voms/{vo}).",
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"vos.{vo}.url = {url!r} is not an https:// URL.",
            "Registration servers are reached over HTTPS with your certificate.",
        )
    return url.rstrip("/")


def registration_kind(cfg: Config, vo: str, workflow: str = "") -> str:
    """voms-admin, iam, iam-browser-login or vomrs: the workflow's name wins, then config, then the catalog
    (an IAM VO whose `registration` is "browser-login" is guided: catalog.service_kind)."""
    if workflow in catalog.KINDS or workflow == catalog.GUIDED_KIND:
        return workflow
    entry = cfg.vos.get(vo)
    shipped = _shipped(vo)
    if entry is not None and "kind" in entry.model_fields_set:
        kind_ = entry.kind
    elif shipped is not None and shipped.kind in catalog.KINDS:
        kind_ = shipped.kind
    else:
        kind_ = entry.kind if entry else "voms-admin"
    if entry is not None and "registration" in entry.model_fields_set:
        how = entry.registration
    else:
        how = shipped.registration if shipped is not None else ""
    return catalog.service_kind(kind_, how)


def kind(ctx: StepContext) -> str:
    return registration_kind(ctx.config, ctx.vo, ctx.record.workflow)


def server_url(ctx: StepContext) -> str:
    """The registration URL of this journey: fixed at the first registration, from config/catalog before."""
    arts = ctx.record.artifacts
    if not arts.registration_url:
        arts.registration_url = registration_url(ctx.config, ctx.vo)
    return arts.registration_url


def http(
    ctx: StepContext, url: str | None = None, *, with_cert: bool = True, system_roots: bool = False
) -> HTTPS:
    """The per-run HTTPS session for the server of `url` (one TLS handshake per host per run).

    `system_roots`: trust the public CAs too (the registrar says: IAM front ends often use them)."""
    from onboard.adapters import https

    url = url or server_url(ctx)
    netloc = urlsplit(url).netloc.lower()

    def make() -> HTTPS:
        ident = None
        if with_cert:
            ident = https.identity_from(ctx.record, ctx.config, lambda: ctx.secrets.passphrase())
        return https.for_server(
            f"https://{netloc}",
            ctx.config,
            ident,
            system_roots=system_roots,
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


def mark(ctx: StepContext, state: str, **more: Any) -> None:
    """The registration is `state` ("submitted", "confirmed") on the server from now: recorded with the
    time (and `more`), and saved at once, so that a crash next never sends it again."""
    e = extra(ctx)
    e["registration"] = state
    e[f"{state}_at"] = ctx.now().isoformat()
    e.update(more)
    ctx.checkpoint()


def since(ctx: StepContext) -> datetime | None:
    raw = extra(ctx).get("submitted_at")
    if not raw:
        return None
    when = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
    return when - STALE_MARGIN


@dataclass
class Scan:
    """What the mailbox says about this journey's request."""

    confirmations: list[links.Confirmation] = field(default_factory=list)  # safe links, oldest first
    events: list[mails.MailEvent] | None = None
    refused: list[str] | None = None

    def add(self, link: links.Confirmation) -> None:
        """A safe link; a later mail about the same request (a resend) replaces the earlier one."""
        self.confirmations = [c for c in self.confirmations if _request_key(c) != _request_key(link)]
        self.confirmations.append(link)

    def confirmation_for(self, request_id: str) -> links.Confirmation | None:
        """The link of this journey's own request. Anyone can submit a request with the user's address,
        and VOMS-Admin confirms whichever request the link names, whoever opens it: so a link for another
        request is never opened, and links for several requests, none known to be ours, stop the step."""
        found = self.confirmations
        if request_id and found and all(c.request_id for c in found):
            found = [c for c in found if c.request_id == request_id]
        if len(found) > 1:
            ids = ", ".join(f"#{c.request_id}" if c.request_id else "one more" for c in found)
            raise RegistrationError(
                f"confirmation mails for {len(found)} different requests arrived ({ids}); onboard cannot "
                "tell which one is yours and opened none.",
                "Someone may have registered with your e-mail address: open the link of your own request "
                "(`onboard confirm URL`) and tell the VO administrators about the other one.",
                exit_code=Exit.AMBIGUOUS,
            )
        return found[0] if found else None

    def last(self, *what: str) -> mails.MailEvent | None:
        return next((e for e in reversed(self.events or []) if e.what in what), None)


def _request_key(link: links.Confirmation) -> str:
    return link.request_id or link.token or link.url


def report_refused(ctx: StepContext, refused: list[str]) -> None:
    """Warn once per refused link, and keep the list (public: these are links we did not open)."""
    seen = extra(ctx).setdefault("refused_links", [])
    for msg in refused:
        if msg not in seen:
            ctx.ui.warn(msg + " It was not opened.")
            seen.append(msg)
