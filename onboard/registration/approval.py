"""Approval across days: what one check concludes, and what the mailbox alone says.

A check reads the mailbox (if any; no request to the registration server) and makes **at most one**
request to the server; which request, and what "member" means, is each service's own
(`Registrar.check_approval`). VOMS-Admin, for instance, asks by one of:

* `api`   — `GET apiv2/user-info.action?dn=&ca=` with `X-VOMS-CSRF-GUARD`: 200 once a member, 404 before;
* `start` — `GET register/start.action`: a redirect to `/user/home.action` once a member, the limbo page
            while pending, the form again once the request is gone (rejected);
* `mail`  — no request at all: the approval or rejection mail decides.

A check that the server does not allow (VOMS-Admin answering 401/403, or 200 with an exception report,
when the VO removed read access) is `NOT_ALLOWED`: unknown, which is neither "not yet" nor "member".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onboard.registration import mails

if TYPE_CHECKING:
    from onboard.registration.flow import Scan

APPROVED, PENDING, REJECTED, EXPIRED, UNCONFIRMED = (
    "approved",
    "pending",
    "rejected",
    "expired",
    "unconfirmed",
)
NOT_ALLOWED = "not-allowed"  # unknown: the server does not let this certificate read where it stands
UNDECIDED = (PENDING, NOT_ALLOWED)  # ask again later (a decision mail may come first)


@dataclass
class Verdict:
    status: str
    reason: str = ""
    fqans: list[str] = field(default_factory=list)
    method: str = ""  # what decided it: mail, api, start, aa
    switch_to: str = ""  # a method to use from now on (the one used was not allowed)


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
