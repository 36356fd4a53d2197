"""Mailboxes: IMAP over TLS (imapclient) and a local Maildir. Read-only: nothing is marked, moved or deleted.

IMAP: password from mail.password_command / mail.password_file / a prompt (never stored), or XOAUTH2
with a token printed by mail.oauth2_token_command. When the server offers IDLE, `wait()` returns as
soon as a mail arrives; otherwise it returns after the timeout and the caller polls.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from onboard.errors import Exit, MailError

if TYPE_CHECKING:
    from onboard.config import Mail as MailConfig
    from onboard.secrets import Secrets


@dataclass
class Mail:
    key: str  # IMAP UID or Maildir key
    message: EmailMessage
    received: datetime | None = None

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))


class Mailbox(Protocol):
    push: bool  # True when wait() returns on arrival (IMAP IDLE), not only on timeout

    def messages(self, since: datetime | None = None, subject: str | None = None) -> list[Mail]: ...

    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class _Lenient(email.policy.EmailPolicy):
    """The default policy, except that a header its parser chokes on reads as its raw text.

    The standard library's structured header parser raises on some malformed headers (AttributeError,
    IndexError, ... when a header is read, found by tests/fuzz); a mail is stranger's input.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        try:
            return super().header_fetch_parse(name, value)
        except Exception:
            raw = "".join(value.splitlines())
            return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


LENIENT = _Lenient()


MAX_MIME_DEPTH = 32  # a VO's mail nests two or three parts; thousands exhaust Python's stack


def parse_message(data: bytes) -> EmailMessage:
    """A mail from the mailbox, whoever sent it. Parts nested deeper than MAX_MIME_DEPTH (anyone can send
    such a mail to the inbox onboard reads) leave only the headers: the body is not a VO's."""
    try:
        msg = email.message_from_bytes(data, policy=LENIENT)
        if _depth(msg) <= MAX_MIME_DEPTH:
            return msg  # type: ignore[return-value]
    except RecursionError:  # the parser recurses once per nesting level
        pass
    return email.parser.BytesParser(policy=LENIENT).parsebytes(data, headersonly=True)  # type: ignore[return-value]


def _depth(msg: Any) -> int:
    """How deep the MIME parts nest, counted without recursion."""
    deepest, todo = 0, [(msg, 0)]
    while todo:
        part, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_MIME_DEPTH and part.is_multipart():
            todo.extend((sub, depth + 1) for sub in part.get_payload())
    return deepest


def _date(msg: EmailMessage) -> datetime | None:
    try:
        d = parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError, OverflowError):  # a year past datetime's range overflows
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


# -- Maildir -------------------------------------------------------------------------------------


def delivery_order(name: str) -> tuple[int, int, str]:
    """A Maildir file name's place in delivery order: `SECONDS.M<microseconds>P<pid>...` (Python's
    mailbox, Dovecot) by its numbers; as text, M999 would come after M1000 within the same second."""
    head, _, rest = name.partition(".")
    usec = rest[1:].split("P", 1)[0] if rest.startswith("M") else ""
    return (int(head) if head.isdigit() else 0, int(usec) if usec.isdigit() else 0, name)


class MaildirBox:
    """A local Maildir (the sandbox delivers there); read without touching flags."""

    push = False

    def __init__(self, path: Path, *, poll: float = 0.5, sleep: Callable[[float], None] = time.sleep):
        self.path = Path(path).expanduser()
        self.poll = poll
        self.sleep = sleep
        # a Maildir not there yet is empty (the first delivery creates it); anything else is an error
        if self.path.exists() and not ((self.path / "new").is_dir() and (self.path / "cur").is_dir()):
            raise MailError(
                f"{self.path} is not a Maildir (no new/ and cur/ inside).",
                "Set mail.maildir to the Maildir the mail is delivered to (the sandbox prints it).",
                exit_code=Exit.MAIL,
            )

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for sub in ("new", "cur"):
            try:
                out += [p for p in (self.path / sub).iterdir() if not p.name.startswith(".")]
            except OSError:
                continue
        return out

    def messages(self, since: datetime | None = None, subject: str | None = None) -> list[Mail]:
        out: list[Mail] = []
        for path in sorted(self._files(), key=lambda p: delivery_order(p.name)):
            try:
                data = path.read_bytes()
                mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            except OSError:
                continue  # moved between listing and reading (new/ -> cur/)
            msg = parse_message(data)
            received = _date(msg) or mtime
            if since and received < since - timedelta(days=1):
                continue
            if subject and subject.lower() not in str(msg.get("Subject", "")).lower():
                continue
            out.append(Mail(path.name.split(":", 1)[0], msg, received))
        return out

    def wait(self, timeout: float) -> bool:
        """Return True as soon as a new file appears (checked every `poll` s), False at the timeout."""
        before = {p.name for p in self._files()}
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sleep(min(self.poll, max(0.0, end - time.monotonic())))
            if {p.name for p in self._files()} - before:
                return True
        return False

    def close(self) -> None:
        pass


# -- IMAP ----------------------------------------------------------------------------------------


def imap_context(ca_file: Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # system roots, hostname checked
    if ca_file:
        ctx.load_verify_locations(cafile=str(Path(ca_file).expanduser()))
    return ctx


IDLE_SLICE = 25.0  # seconds of IDLE between two checks of the mailbox's UIDs


def _password_login(client: Any, username: str, password: str) -> None:
    """IMAP LOGIN carries ASCII only (imaplib would fail with an error quoting the password's first
    other letter and where it stands); SASL PLAIN carries UTF-8 (RFC 4616), so any other password goes
    that way."""
    if (username + password).isascii():
        client.login(username, password)
    else:
        client.plain_login(username, password)


class ImapBox:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        password: str | None = None,
        oauth2_token: str | None = None,
        folder: str = "INBOX",
        ca_file: Path | None = None,
        timeout: float = 30.0,
    ):
        from imapclient import IMAPClient
        from imapclient.exceptions import IMAPClientError, LoginError

        self.host, self.folder = host, folder
        where = f"{username}@{host}:{port}"
        try:
            self.client = IMAPClient(
                host, port=port, ssl=True, ssl_context=imap_context(ca_file), timeout=timeout
            )
        except ssl.SSLCertVerificationError as e:
            raise MailError(
                f"the IMAP server {host} was refused: {e.verify_message}.",
                "Set mail.ca_file to its CA (or fix mail.host); verification stays on.",
                exit_code=Exit.TLS,
            ) from None
        except ssl.SSLError as e:
            raise MailError(
                f"TLS with the IMAP server {host}:{port} failed: {e.reason or e}.",
                "Port 993 is IMAP over TLS; check mail.port.",
                exit_code=Exit.TLS,
            ) from None
        except (TimeoutError, OSError) as e:
            raise MailError(
                f"cannot reach the IMAP server {host}:{port}: {e.strerror or e}.",
                "Check mail.host and mail.port, and the network.",
            ) from None
        try:
            if oauth2_token is not None:
                self.client.oauth2_login(username, oauth2_token)
            else:
                _password_login(self.client, username, password or "")
            self.client.select_folder(folder, readonly=True)
        except LoginError:
            self.client.shutdown()
            raise MailError(
                f"the IMAP server refused the login of {where}.",
                "Check mail.username and the password (mail.password_command) or token.",
            ) from None
        except IMAPClientError as e:
            self.client.shutdown()
            raise MailError(
                f"IMAP {where}: {e}.", f"Check that the folder {folder!r} exists (mail.folder)."
            ) from None
        self.push = b"IDLE" in self.client.capabilities()
        self._known: set[int] | None = None  # UIDs present at the caller's last look

    def messages(self, since: datetime | None = None, subject: str | None = None) -> list[Mail]:
        from imapclient.exceptions import IMAPClientError

        criteria: list[Any] = []
        if since:
            criteria += ["SINCE", (since - timedelta(days=1)).date()]
        if subject:
            criteria += ["SUBJECT", subject]
        try:
            self.client.noop()  # let the server report new mail in the selected folder
            self._known = set(self.client.search(["ALL"]))
            uids = self.client.search(criteria) if criteria else sorted(self._known)
            if not uids:
                return []
            data = self.client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"])
        except (IMAPClientError, OSError) as e:
            raise MailError(
                f"reading mail from {self.host} failed: {e}.", "`onboard resume` tries again."
            ) from None
        out = []
        for uid in sorted(data):
            item = data[uid]
            raw = item.get(b"BODY[]") or b""
            when = item.get(b"INTERNALDATE")
            if isinstance(when, datetime) and when.tzinfo is None:
                when = when.astimezone(timezone.utc)
            out.append(Mail(str(uid), parse_message(raw), when))
        return out

    def wait(self, timeout: float) -> bool:
        """With IDLE: True as soon as a new mail is there, False at the timeout.

        IDLE runs in slices (servers end it after ~30 min; a mail that slipped in between the caller's
        look and the IDLE command is noticed at the start of the next slice, by comparing UIDs).
        """
        from imapclient.exceptions import IMAPClientError

        if not self.push:
            time.sleep(timeout)
            return False
        end = time.monotonic() + timeout
        try:
            while True:
                if self._arrived():
                    return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.client.idle()
                try:
                    responses = self.client.idle_check(timeout=min(left, IDLE_SLICE))
                finally:
                    _, more = self.client.idle_done()
                if any(len(r) >= 2 and r[1] in (b"EXISTS", b"RECENT") for r in [*responses, *(more or [])]):
                    return True
        except (IMAPClientError, OSError) as e:
            raise MailError(
                f"the IMAP connection to {self.host} broke while waiting: {e}.",
                "`onboard resume` connects again.",
            ) from None

    def _arrived(self) -> bool:
        """Is there a UID the caller has not seen yet? (NOOP + SEARCH: no message bodies fetched)"""
        self.client.noop()
        now = set(self.client.search(["ALL"]))
        if self._known is None:
            self._known = now
            return False
        return bool(now - self._known)

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:
            try:
                self.client.shutdown()
            except Exception:
                pass


def open_mailbox(cfg: MailConfig, secrets: Secrets) -> Mailbox | None:
    """The configured mailbox, or None when mail.kind = "none" (the user confirms by hand)."""
    if cfg.kind == "maildir":
        if not cfg.maildir:
            raise MailError(
                "mail.kind is maildir but mail.maildir is not set.",
                "Set mail.maildir to the Maildir path.",
                exit_code=Exit.CONFIG,
            )
        return MaildirBox(cfg.maildir)
    if cfg.kind == "imap":
        if not cfg.host or not cfg.username:
            raise MailError(
                "mail.kind is imap but mail.host or mail.username is not set.",
                "Set both (and mail.password_command, or mail.oauth2_token_command).",
                exit_code=Exit.CONFIG,
            )
        if cfg.oauth2_token_command:
            token = secrets.get(
                "imap-oauth2-token",
                command=cfg.oauth2_token_command,
                prompt=f"OAuth2 token for {cfg.username}",
                key="mail.oauth2_token_command",
            )
            return ImapBox(
                cfg.host, cfg.port, cfg.username, oauth2_token=token, folder=cfg.folder, ca_file=cfg.ca_file
            )
        password = secrets.get(
            "imap-password",
            command=cfg.password_command,
            file=cfg.password_file,
            prompt=f"IMAP password of {cfg.username} at {cfg.host}",
            key="mail.password_command",
        )
        return ImapBox(
            cfg.host, cfg.port, cfg.username, password=password, folder=cfg.folder, ca_file=cfg.ca_file
        )
    return None
