"""Registration mails: the events they announce (confirmation, approval, rejection, expiry) and the
parsing every service shares (subject, text, the VO named, the administrator's reason, the sender).

Which subject means which event is each service's own (`Registrar.classify_mail`: reference §1.7 for
VOMS-Admin, §4.3 for IAM, the sandbox's VOMRS emulation). Matching is by subject first, then the VO
named in subject or body.
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
            payload = links.part_bytes(part) or b""
            text = links.decode(payload, part.get_content_charset())
            if part.get_content_type() == "text/html":
                text = re.sub(r"<[^>]+>", " ", text)
            parts.append(text)
    return "\n".join(parts)


def subject_of(msg: Message) -> str:
    from email.header import decode_header, make_header

    raw = msg.get("Subject", "") or ""
    try:
        return " ".join(str(make_header(decode_header(raw))).split())
    except (ValueError, LookupError):
        return " ".join(raw.split())


def sender_of(msg: Message) -> str:
    return parseaddr(msg.get("From", ""))[1]


def names_vo(text: str, vo: str) -> bool:
    return re.search(rf"\bVO {re.escape(vo)}(?![\w.-])", text, re.I) is not None


def sender_ok(sender: str, wanted: str) -> bool:
    """Does the sender match registration.mail_from (an address, or "@domain"; empty matches all)?"""
    if not wanted:
        return True
    sender, wanted = sender.strip().lower(), wanted.strip().lower()
    if wanted.startswith("@"):
        return sender.endswith(wanted) or sender.endswith("." + wanted[1:])
    return sender == wanted


def reason_in(body: str) -> str:
    """The administrator's motivation, when the mail carries one."""
    for rx in (
        # IAM requestRejected.ftl: "...the following motivation in support of\nhis decision:"
        r"following motivation[^:]{0,80}:\s*(.+?)(?:\n\s*\n|$)",
        # VOMS-Admin RequestRejected.vm: "The reason behind the rejection is the following:\n\t\n\t..."
        r"reason behind the rejection is the following:\s*(.+?)(?:\n\s*\n|$)",
        r"[Rr]eason:\s*(.+?)(?:\n\s*\n|$)",
        r"explanation[^:\n]*:\s*(.+?)(?:\n\s*\n|$)",
    ):
        m = re.search(rx, body, re.S)
        if m:
            return " ".join(m.group(1).split())[:300]
    return ""
