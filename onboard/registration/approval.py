"""Approval across days: one look at the outside world per check, and a backoff between checks.

A check reads the mailbox (if any; no request to the registration server) and makes **at most one**
request to the server, by one of:

* `api`   — `GET apiv2/user-info.action?dn=&ca=` with `X-VOMS-CSRF-GUARD`: 200 once a member, 404 before;
* `start` — `GET register/start.action`: a redirect to `/user/home.action` once a member, the limbo page
            while pending, the form again once the request is gone (rejected);
* `mail`  — no request at all: the approval or rejection mail decides.

`auto` uses `api` when mail is read (the mail tells rejections apart) and `start` otherwise (the start
page alone tells approved, pending and gone apart). A server that refuses `api` (401/403: the VO removed
read access) makes onboard switch to `start` for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onboard.registration import mails

if TYPE_CHECKING:
    from onboard.registration.flow import Scan
    from onboard.registration.voms_admin import VomsAdmin

APPROVED, PENDING, REJECTED, EXPIRED, UNCONFIRMED = (
    "approved",
    "pending",
    "rejected",
    "expired",
    "unconfirmed",
)
REJECTED_GONE = (
    "the request is no longer on the server after it was confirmed: the VO administrators rejected it"
)


@dataclass
class Verdict:
    status: str
    reason: str = ""
    fqans: list[str] = field(default_factory=list)
    method: str = ""  # what decided it: mail, api, start
    switch_to: str = ""  # a method to use from now on (api refused)


def interval(checks: int, minimum: float, maximum: float) -> float:
    """Seconds until the next check after `checks` earlier ones: doubling from the minimum, capped."""
    return float(min(maximum, minimum * (2 ** min(checks, 30))))


def method_for(configured: str, has_mail: bool, remembered: str = "") -> str:
    if remembered:
        return remembered
    if configured != "auto":
        return configured
    return "api" if has_mail else "start"


def from_mail(scan: Scan | None) -> Verdict | None:
    if scan is None:
        return None
    event = scan.last(mails.APPROVED, mails.REJECTED, mails.EXPIRED)
    if event is None:
        return None
    if event.what == mails.APPROVED:
        return Verdict(APPROVED, event.subject, method="mail")
    if event.what == mails.REJECTED:
        why = event.reason or "the VO administrators rejected the request (no reason given)"
        return Verdict(REJECTED, why, method="mail")
    return Verdict(EXPIRED, event.subject, method="mail")


def check_voms_admin(client: VomsAdmin, method: str, dn: str, ca: str, scan: Scan | None = None) -> Verdict:
    """One check: the mail first (free), then at most one request by `method`."""
    verdict = from_mail(scan)
    if verdict is not None:
        return verdict
    if method == "mail":
        return Verdict(PENDING, method="mail")
    if method == "api":
        status, info = client.user_info(dn, ca)
        if status == 200 and info is not None:
            fqans = info.get("fqans")
            fqans = [str(f) for f in fqans] if isinstance(fqans, list) else []
            return Verdict(APPROVED, "apiv2/user-info knows the certificate", fqans, method="api")
        if status in (401, 403):
            return Verdict(
                PENDING, "apiv2 refused us; switching to the start page", method="api", switch_to="start"
            )
        return Verdict(PENDING, method="api")
    from onboard.registration.voms_admin import Start

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
