"""What a VOMS server says when a membership has lapsed, and what it means: the errors of the second year.

The texts are the servers' own:
- voms-server (italiangrid/voms, src/server/vomsd.cc) on a certificate VOMS-Admin suspended:
  "User is currently suspended!" then "Suspension reason: " and VOMS-Admin's reason text
  (VOMSUser.SuspensionReason in italiangrid/voms-admin-server: failed AUP, expired membership, security
  incident, CERN HR record, other);
- IAM's VOMS attribute authority (indigo-iam/iam, iam-voms-aa: VOMSErrorMessage) on a suspended
  account: "User '<DN>, <CA>' is not active." ([SuspendedUser]), and on an AUP signature that lapsed:
  "User <name> needs to sign AUP for this organization in order to proceed." ([FailedToSignAup]);
- the C voms-proxy-init (italiangrid/voms, src/api/ccapi/voms_api.cc) when it cannot read the server's
  answer at all: "Server Answer was incorrectly formatted." (met with VOMS servers whose refusal it does
  not parse, IAM's among them: the refusal itself is then not shown).

The Java voms-proxy-init (italiangrid/voms-clients, ProxyInitListenerHelper) prints "VOMS server
<host>:<port> returned the following errors:" and then the server's own message, which the same
patterns find.

Used by `onboard explain` (commands/explain.py) and by the verify step (delivery/verify.py), so both
name the same cause and the same person to ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VO_ADMIN = "the VO's administrators (the contact on the VO's registration page)"
SECRETARIAT = "your experiment's secretariat (at CERN: the Users' Office, for your CERN registration)"
SECURITY = "the VO's security contact, through the VO's administrators"


@dataclass(frozen=True)
class Lapse:
    key: str
    pattern: str  # a regular expression, case-insensitive, searched in the output
    title: str
    meaning: str
    todo: str
    whom: str
    source: str
    kind: str = "suspended"  # "suspended" | "aup" | "unreadable"

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE | re.DOTALL) is not None


LAPSES: list[Lapse] = [
    # voms-server on VOMS-Admin's database: the reason says why (most specific first)
    Lapse("voms-suspended-aup",
          r"currently suspended.*failed to sign the AUP",
          "your VO membership is suspended: the AUP was not signed again in time",
          "VOMS-Admin asks every member to sign the VO's Acceptable Use Policy again (yearly, by default) "
          "and suspends those who have not within the time it gives (15 days by default).",
          "Sign the AUP on the VO's VOMS-Admin page (the link is in the \"sign the AUP\" e-mail; "
          "`onboard check` shows the state): signing restores the membership by itself.",
          "no one at first: you sign it yourself; if signing does not restore you, " + VO_ADMIN,
          "voms-server + VOMS-Admin (SuspensionReason FAILED_TO_SIGN_AUP)", "aup"),
    Lapse("voms-suspended-expired",
          r"currently suspended.*membership has expired",
          "your VO membership has ended",
          "VOMS-Admin memberships last a fixed time (12 months by default); once the end date and the "
          "grace period after it (7 days by default) have passed, the member is suspended.",
          "Ask the VO's administrators to extend your membership (`onboard check` shows its end date).",
          VO_ADMIN, "voms-server + VOMS-Admin (SuspensionReason MEMBERSHIP_EXPIRATION)"),
    Lapse("voms-suspended-hr",
          r"currently suspended.*(HR db validation failed|OrgDB)",
          "your VO membership is suspended: your CERN registration has lapsed",
          "The LHC VOs check each member against CERN's HR database; when your registration with the "
          "experiment (your participation) ends, the membership is suspended.",
          "Renew your registration with the experiment (institute's team leader, then the experiment's "
          "secretariat); the VO membership comes back with it.",
          SECRETARIAT, "voms-server + VOMS-Admin (SuspensionReason HR_DB_VALIDATION)"),
    Lapse("voms-suspended-security",
          r"currently suspended.*security incident",
          "your VO membership is suspended after a security incident",
          "The VO suspended the membership while a security incident is handled (for instance a "
          "credential that may have been exposed).",
          "Contact the VO's administrators; do not register again. A new certificate (and revoking the "
          "old one) may be asked of you.",
          SECURITY, "voms-server + VOMS-Admin (SuspensionReason SECURITY_INCIDENT)"),
    Lapse("voms-suspended",
          r"User is currently suspended|SuspendedUser",
          "your VO membership is suspended",
          "The VO's VOMS server knows your certificate but refuses it: an administrator, or VOMS-Admin's "
          "own checks (AUP, membership end), suspended the membership.",
          "Read the \"Suspension reason\" line; ask the VO's administrators to restore the membership.",
          VO_ADMIN, "voms-server (vomsd.cc)"),
    # IAM's VOMS attribute authority
    Lapse("iam-aup",
          r"needs to sign AUP for this organization",
          "the VO's IAM wants you to sign its AUP again",
          "IAM signatures of the Acceptable Use Policy have a validity; once it has passed, IAM's VOMS "
          "endpoint refuses attributes until you sign again.",
          "Log in to the VO's IAM dashboard in a browser and sign the AUP (it asks at login); then run "
          "voms-proxy-init again.",
          "no one: you sign it yourself on the IAM dashboard",
          "IAM VOMS-AA (VOMSErrorMessage.faildToSignAup)", "aup"),
    Lapse("iam-not-active",
          r"User '.*' is not active|is not active\.",
          "your IAM account is suspended (not active)",
          "The VO's IAM disabled your account: an administrator did, or (at CERN) the account followed "
          "your CERN HR record, which has lapsed.",
          "For an LHC VO, renew your registration with the experiment (it re-enables the account); "
          "otherwise ask the VO's IAM administrators.",
          SECRETARIAT + "; otherwise " + VO_ADMIN, "IAM VOMS-AA (VOMSErrorMessage.suspendedUser)"),
    # the C client could not read the refusal
    Lapse("voms-answer-unreadable",
          r"Server Answer was incorrectly formatted",
          "the VOMS server refused, in an answer voms-proxy-init could not read",
          "The C voms-proxy-init did not understand the server's answer, so the real reason is not shown. "
          "For a member in the second year it is most often a lapse: an AUP to sign again, a membership "
          "that ended, or a suspended account (IAM-based VOs answer so).",
          "Run `onboard check` (it reads your membership's end, suspension and AUP state where the VO "
          "shows them); try `voms-proxy-init -debug`, or the Java voms-proxy-init, which shows the reason.",
          VO_ADMIN + ", with the output of voms-proxy-init -debug",
          "voms-proxy-init (C, voms_api.cc)", "unreadable"),
]


def find(text: str) -> Lapse | None:
    """The most specific second-year refusal in `text`, if any."""
    return next((m for m in LAPSES if m.matches(text)), None)


def reason_line(text: str) -> str:
    """The server's own words: 'Suspension reason: ...', IAM's sentence, or the client's line."""
    for line in text.splitlines():
        s = line.strip()
        if s.lower().startswith("suspension reason:") or "is not active" in s or "needs to sign AUP" in s:
            return s
    for line in text.splitlines():
        if find(line):
            return line.strip().removeprefix("Error: ")
    return ""
