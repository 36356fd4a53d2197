"""Which registration mail is which: confirmation, approval, rejection, expiry — per server kind and VO.

Subjects and bodies follow the servers' templates (reference §1.7 for VOMS-Admin, §4.3 for IAM, and
the sandbox's VOMRS emulation). Matching is by subject first, then the VO named in subject or body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

from onboard.registration import links

CONFIRM, APPROVED, REJECTED, EXPIRED = "confirm", "approved", "rejected", "expired"


@dataclass
class MailEvent:
    what: str  # confirm | approved | rejected | expired
    subject: str
    sender: str
    reason: str = ""  # the administrator's explanation, when the mail has one


def body_text(msg: Message) -> str:
    parts = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.get_content_type() in ("text/plain", "text/html") and not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            text = links.decode(payload, part.get_content_charset())
            if part.get_content_type() == "text/html":
                text = re.sub(r"<[^>]+>", " ", text)
            parts.append(text)
    return "\n".join(parts)


def _subject(msg: Message) -> str:
    from email.header import decode_header, make_header

    raw = msg.get("Subject", "") or ""
    try:
        return " ".join(str(make_header(decode_header(raw))).split())
    except (ValueError, LookupError):
        return " ".join(raw.split())


def _vo_named(text: str, vo: str) -> bool:
    return re.search(rf"\bVO {re.escape(vo)}(?![\w.-])", text, re.I) is not None


def classify(msg: Message, kind: str, vo: str, org: str = "") -> MailEvent | None:
    """The registration event a mail announces for this VO, or None if it is about something else."""
    subject = _subject(msg)
    sender = parseaddr(msg.get("From", ""))[1]
    low = subject.lower()
    if kind == "voms-admin":
        if "[voms admin]" not in low:
            return None
        body = body_text(msg)
        if "has expired" in low or "has expired" in body.lower():
            return MailEvent(EXPIRED, subject, sender) if _vo_named(subject + " " + body, vo) else None
        if not _vo_named(subject, vo):
            return None
        if "your membership request for vo" in low:
            return MailEvent(CONFIRM, subject, sender)
        if low.endswith("has been approved."):
            return MailEvent(APPROVED, subject, sender)
        if low.endswith("has been rejected."):
            return MailEvent(REJECTED, subject, sender, _reason(body))
        return None
    if kind == "iam":
        # [<org> IAM] prefix; the organisation may be named differently from the VO (cms vs CMS)
        names = {vo.lower(), org.lower()} - {""}
        if not any(n in low for n in names):
            return None
        if re.search(r"confirm your .* registration request", low):
            return MailEvent(CONFIRM, subject, sender)
        if re.search(r"your .* account is now active", low):
            return MailEvent(APPROVED, subject, sender)
        if re.search(r"your request for an? .* account has been rejected", low):
            return MailEvent(REJECTED, subject, sender, _reason(body_text(msg)))
        return None
    if kind == "vomrs":
        if "[vomrs]" not in low or not _vo_named(subject, vo):
            return None
        if "confirm your registration" in low:
            return MailEvent(CONFIRM, subject, sender)
        if "has been approved" in low:
            return MailEvent(APPROVED, subject, sender)
        if "has been denied" in low or "has been rejected" in low:
            return MailEvent(REJECTED, subject, sender, _reason(body_text(msg)))
        if "has expired" in low:
            return MailEvent(EXPIRED, subject, sender)
        return None
    return None


def sender_ok(sender: str, wanted: str) -> bool:
    """Does the sender match registration.mail_from (an address, or "@domain"; empty matches all)?"""
    if not wanted:
        return True
    sender, wanted = sender.strip().lower(), wanted.strip().lower()
    if wanted.startswith("@"):
        return sender.endswith(wanted) or sender.endswith("." + wanted[1:])
    return sender == wanted


def _reason(body: str) -> str:
    """The administrator's motivation, when the mail carries one."""
    for rx in (
        r"following motivation[^:\n]*:\s*(.+?)(?:\n\s*\n|$)",
        r"[Rr]eason:\s*(.+?)(?:\n\s*\n|$)",
        r"explanation[^:\n]*:\s*(.+?)(?:\n\s*\n|$)",
    ):
        m = re.search(rx, body, re.S)
        if m:
            return " ".join(m.group(1).split())[:300]
    return ""
