"""The sandbox's outgoing mail: into a Maildir per recipient under DIR/mail, or to an SMTP server.

Maildir layout (what Dovecot reads with `mail_location = maildir:DIR/mail/%u`):

    DIR/mail/<address>/{tmp,new,cur}     <address> = the recipient's full e-mail address, lower case

A message is written into tmp/ and renamed into new/ (the standard atomic delivery); folders are 0700.
"""

from __future__ import annotations

import email.utils
import mailbox
import re
import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path

_SAFE = re.compile(r"^[a-z0-9._%+'@-]+$")


def mailbox_name(address: str) -> str:
    name = address.strip().lower()
    if not _SAFE.match(name) or name.startswith(".") or "/" in name or ".." in name:
        raise ValueError(f"cannot deliver to {address!r}: not a plain e-mail address")
    return name


class Mailer:
    def __init__(self, maildir_root: Path, sender: str, smtp: str = "", log=None):
        self.root = maildir_root
        self.sender = sender
        self.smtp = smtp
        self._log = log or (lambda msg: None)
        self._lock = threading.Lock()

    def maildir(self, address: str) -> Path:
        return self.root / mailbox_name(address)

    def build(self, to: str, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = email.utils.make_msgid(domain=self.sender.rpartition("@")[2] or "sandbox")
        msg["X-Mailer"] = "onboard sandbox (VOMS-Admin emulation)"
        # as JavaMail sends text: 7bit when it is ASCII in lines a transport takes (998 octets), else
        # quoted-printable (mostly ASCII) -- never QP for an ASCII body, whose soft breaks cut links
        ascii_text = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
        if ascii_text:
            msg.set_content(body, charset="us-ascii", cte="7bit")
        else:
            msg.set_content(body, cte="quoted-printable")
        return msg

    def send(self, to: str, subject: str, body: str) -> EmailMessage:
        msg = self.build(to, subject, body)
        if self.smtp:
            host, _, port = self.smtp.rpartition(":")
            with smtplib.SMTP(host or self.smtp, int(port or 25), timeout=30) as s:
                s.send_message(msg)
        else:
            self.deliver(to, msg)
        self._log(f"mail to {to}: {subject}")
        return msg

    def deliver(self, to: str, msg: EmailMessage) -> Path:
        path = self.maildir(to)
        # mailbox makes the Maildir folders 0700 (no umask games: other threads create files meanwhile)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock:
            box = mailbox.Maildir(path, create=True)
            key = box.add(msg)
        return path / "new" / key


def read_maildir(path: Path) -> list[EmailMessage]:
    """All messages of a Maildir (new and cur), oldest first; for tests and `sandbox status`."""
    import email.policy

    found = []
    for sub in ("new", "cur"):
        d = path / sub
        if d.is_dir():
            for f in d.iterdir():
                if f.is_file():
                    found.append((f.stat().st_mtime_ns, f.name, f))
    out = []
    for _, _, f in sorted(found):
        with open(f, "rb") as fh:
            out.append(email.message_from_binary_file(fh, policy=email.policy.default))
    return out
