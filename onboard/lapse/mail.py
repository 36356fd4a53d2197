"""The second year's mails in the configured mailbox: where the service tells a member nothing onboard can
read (IAM), its mails are the signal; and VOMS-Admin's, for a VO that refuses user-info.

Subjects as the services send them: VOMS-Admin (italiangrid/voms-admin-server, notification/messages)
"Request to sign VO <vo> acceptable usage policy (AUP)." (SignAUPMessage and its reminders),
"VO <vo> Membership expiration notification" (UserMembershipExpiredMessage), "Membership suspension
notification" (UserTargetedUserSuspensionMessage); IAM (indigo-iam/iam, TransientNotificationFactory)
"AUP signature request", "AUP signature reminder", "AUP signature expiration", after its
"[<organisation> IAM]" prefix. Only the last MAIL_DAYS days count: an older mail was acted on or is
superseded by the next one. A mail cannot say that you signed since: the line says so.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from onboard.errors import MissingInput, OnboardError
from onboard.lapse import LAPSED, LAPSING, SKIPPED, UNKNOWN, Item

MAIL_DAYS = 30
SIGN = "Sign the AUP at the link in the mail (if you have signed since, nothing to do)."

# (subject pattern, state, what it says, what to do)
MAILS = [
    (r"^Request to sign VO (?P<vo>\S+) acceptable usage policy \(AUP\)\.$", LAPSING,
     "VOMS-Admin asks you to sign the AUP again", SIGN),
    (r"^VO (?P<vo>\S+) Membership expiration notification$", LAPSED,
     "VOMS-Admin says the membership has expired", "Ask the VO's administrators to extend it."),
    (r"^Membership suspension notification$", LAPSED, "VOMS-Admin says a membership was suspended",
     "Read the mail for the reason; `onboard explain` knows what each means."),
    (r"^(\[(?P<org>.+) IAM\] )?AUP signature (request|reminder)$", LAPSING, "IAM asks you to sign the AUP",
     SIGN),
    (r"^(\[(?P<org>.+) IAM\] )?AUP signature expiration$", LAPSED,
     "IAM says the AUP signature has expired: no VOMS credentials until you sign", SIGN),
]


def check(cfg, secrets, vos: list[str], now: datetime) -> list[Item]:
    """One item per mail of the last MAIL_DAYS days that says something lapses or has lapsed."""
    if cfg.mail.kind == "none":
        return []
    from onboard.adapters.mail import open_mailbox

    try:
        box = open_mailbox(cfg.mail, secrets)
        found = box.messages(since=now - timedelta(days=MAIL_DAYS)) if box is not None else []
    except MissingInput:
        return [Item("mailbox", SKIPPED, "needs the mail password, and there is no terminal to ask on",
                     "Set mail.password_command (or password_file) for cron.")]
    except OnboardError as e:
        return [Item("mailbox", UNKNOWN, f"could not read it: {e.message}", e.hint)]
    orgs = {(cfg.registration.organisation or vo): vo for vo in vos}
    items = []
    for mail in sorted(found, key=lambda m: m.received or now, reverse=True):
        if mail.received and mail.received < now - timedelta(days=MAIL_DAYS):
            continue
        for pattern, state, says, todo in MAILS:
            m = re.match(pattern, mail.subject.strip())
            if m is None:
                continue
            vo = m.groupdict().get("vo") or orgs.get(m.groupdict().get("org") or "", "")
            if vos and vo and vo not in vos:
                break
            when = f" on {mail.received:%Y-%m-%d}" if mail.received else ""
            items.append(Item(f"mail{' of ' + vo if vo else ''}", state,
                              f"{says} (\"{mail.subject.strip()[:80]}\"{when})", todo, mail.received, vo))
            break
    return items
