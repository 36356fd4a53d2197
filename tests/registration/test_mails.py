"""Which registration mail is which, from the servers' subjects and bodies (reference §1.7, §4.3)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from onboard import registration
from onboard.registration.mails import sender_ok


def classify(msg, kind: str, vo: str, org: str = ""):
    """The mail as the journey reads it: through the service's registrar."""
    return registration.get(kind).classify_mail(msg, vo, org)


def _m(subject: str, body: str = "", sender: str = "voms-admin@voms.example.org") -> EmailMessage:
    m = EmailMessage()
    m["Subject"], m["From"] = subject, sender
    m.set_content(body or "text")
    return m


@pytest.mark.parametrize(
    "subject,body,what",
    [
        ("[VOMS Admin] Your membership request for VO cms", "", "confirm"),
        ("[VOMS Admin] Your vo membership request for VO cms has been approved.", "", "approved"),
        ("[VOMS Admin] Your vo membership request for VO cms has been rejected.", "", "rejected"),
        (
            "[VOMS Admin] You vo membership request has expired!",
            "your membership request for VO cms has expired since you didn't confirm it in time",
            "expired",
        ),
        (
            "[VOMS Admin] A vo membership request for VO cms requires your approval.",
            "",
            None,
        ),  # to the admins
        ("[VOMS Admin] Your membership request for VO cms.test", "", None),  # another VO
        ("[VOMS Admin] Your membership request for VO atlas", "", None),
        ("Your membership request for VO cms", "", None),  # no server prefix
    ],
)
def test_voms_admin(subject, body, what):
    event = classify(_m(subject, body), "voms-admin", "cms")
    assert (event.what if event else None) == what


def test_voms_admin_rejection_reason():
    body = (
        "Dear jane,\n\nyour vo membership request for VO cms has been REJECTED.\n\n"
        "Reason: not in the HR database\n"
    )
    event = classify(
        _m("[VOMS Admin] Your vo membership request for VO cms has been rejected.", body), "voms-admin", "cms"
    )
    assert event.reason == "not in the HR database"


@pytest.mark.parametrize(
    "subject,what",
    [
        ("[CMS IAM] Confirm your CMS registration request", "confirm"),
        ("[CMS IAM] Your CMS account is now active", "approved"),
        ("[CMS IAM] Your request for a CMS account has been rejected", "rejected"),
        ("[CMS IAM] New CMS account request", None),
        ("[ATLAS IAM] Confirm your ATLAS registration request", None),
    ],
)
def test_iam(subject, what):
    event = classify(_m(subject), "iam", "cms", org="CMS")
    assert (event.what if event else None) == what


def test_iam_motivation_is_the_reason():
    body = (
        "Dear Jane Doe,\n\nyour membership request for cms has been REJECTED.\n\n"
        "The administrator has provided the following motivation for the rejection:\n\n"
        "no CERN HR record\n\nThe cms registration service\n"
    )
    event = classify(_m("[cms IAM] Your request for a cms account has been rejected", body), "iam", "cms")
    assert event.what == "rejected" and event.reason == "no CERN HR record"


def test_sender_rule():
    assert sender_ok("voms-admin@voms.example.org", "")
    assert sender_ok("voms-admin@voms.example.org", "@example.org")
    assert sender_ok("noreply@example.org", "@example.org")
    assert not sender_ok("voms-admin@example.org.evil.net", "@example.org")
    assert not sender_ok("other@example.org", "voms-admin@example.org")
