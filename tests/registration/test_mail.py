"""Mailboxes: IMAP over TLS against a real Dovecot on loopback (password from a command, IDLE picking a
mail up as it arrives, refused TLS and logins), and the local Maildir reader."""

from __future__ import annotations

import mailbox
import threading
import time
from email.message import EmailMessage

import pytest

from onboard.adapters.mail import ImapBox, MaildirBox, open_mailbox
from onboard.config import Mail
from onboard.errors import Exit, MailError
from onboard.secrets import Secrets
from onboard.ui import UI


def _msg(subject: str, body: str = "hello") -> EmailMessage:
    m = EmailMessage()
    m["Subject"], m["From"], m["To"] = subject, "voms-admin@localhost", "jane@example.org"
    m.set_content(body)
    return m


@pytest.fixture
def imap(dovecot):
    return dovecot


def _deliver(dv, msg: EmailMessage | bytes) -> None:
    mailbox.Maildir(dv.maildir(), create=True).add(msg)


def test_imap_reads_with_password_from_command(imap, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(imap.password + "\n")
    cfg = Mail(
        kind="imap",
        host="localhost",
        port=imap.port,
        username=imap.user,
        password_command=f"cat {pw}",
        ca_file=imap.ca_file,
    )
    _deliver(imap, _msg("[VOMS Admin] Your membership request for VO sandbox"))
    _deliver(imap, _msg("unrelated"))
    box = open_mailbox(cfg, Secrets(UI(interactive=False)))
    try:
        assert box.push  # Dovecot offers IDLE
        subjects = [m.subject for m in box.messages()]
        assert subjects == ["[VOMS Admin] Your membership request for VO sandbox", "unrelated"]
        assert [m.subject for m in box.messages(subject="[VOMS Admin]")] == subjects[:1]
        # read-only: nothing marked as seen
        assert all("S" not in p.name.split(":2,")[-1] for p in (imap.maildir() / "cur").iterdir())
    finally:
        box.close()


def test_idle_picks_up_a_mail_without_a_poll_interval(imap):
    box = ImapBox("localhost", imap.port, imap.user, password=imap.password, ca_file=imap.ca_file)
    try:
        assert box.messages() == []
        threading.Timer(0.5, _deliver, args=(imap, _msg("arrives during IDLE"))).start()
        t0 = time.monotonic()
        assert box.wait(60) is True  # returns on the server's EXISTS, not at the 60 s timeout
        elapsed = time.monotonic() - t0
        assert elapsed < 15
        assert [m.subject for m in box.messages()] == ["arrives during IDLE"]
    finally:
        box.close()


def test_wrong_password_and_unknown_ca(imap, tmp_path):
    with pytest.raises(MailError) as e:
        ImapBox("localhost", imap.port, imap.user, password="wrong", ca_file=imap.ca_file)
    assert "refused the login" in e.value.message and "wrong" not in e.value.message
    with pytest.raises(MailError) as e:
        ImapBox("localhost", imap.port, imap.user, password=imap.password)  # system roots only
    assert e.value.exit_code == Exit.TLS


def test_maildir_files_are_read_in_delivery_order(tmp_path):
    """Found flaky: within one second Python's mailbox names M999 after M1000 as text."""
    md = tmp_path / "Maildir"
    mailbox.Maildir(md, create=True)
    for name, subject in (("1700000000.M1000P7Q2.host", "second"), ("1700000000.M999P7Q1.host", "first"),
                          ("1699999999.M5P7Q1.host", "zeroth")):
        (md / "new" / name).write_bytes(bytes(_msg(subject)))
    assert [m.subject for m in MaildirBox(md).messages()] == ["zeroth", "first", "second"]


def test_maildir_reader_and_wait(tmp_path):
    md = tmp_path / "Maildir"
    mailbox.Maildir(md, create=True).add(_msg("first"))
    box = MaildirBox(md, poll=0.05)
    assert [m.subject for m in box.messages()] == ["first"]
    threading.Timer(0.2, lambda: mailbox.Maildir(md).add(_msg("second"))).start()
    assert box.wait(10) is True
    assert [m.subject for m in box.messages()] == ["first", "second"]
    assert box.wait(0.2) is False
    assert MaildirBox(tmp_path / "not-yet").messages() == []  # created by the first delivery
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(MailError):
        MaildirBox(tmp_path / "a-file")


def test_xoauth2_uses_the_token_command(monkeypatch, tmp_path):
    calls = {}

    class FakeIMAP:
        def __init__(self, host, port, ssl, ssl_context, timeout):
            calls["host"] = host

        def oauth2_login(self, user, token):
            calls["oauth2"] = (user, token)

        def login(self, *a):
            raise AssertionError("no password login with XOAUTH2")

        def select_folder(self, folder, readonly):
            calls["folder"] = (folder, readonly)

        def capabilities(self):
            return (b"IMAP4REV1",)

    import imapclient

    monkeypatch.setattr(imapclient, "IMAPClient", FakeIMAP)
    tok = tmp_path / "tok"
    tok.write_text("ya29.token\n")
    cfg = Mail(
        kind="imap", host="imap.example.org", username="jane@example.org", oauth2_token_command=f"cat {tok}"
    )
    box = open_mailbox(cfg, Secrets(UI(interactive=False)))
    assert calls["oauth2"] == ("jane@example.org", "ya29.token")
    assert calls["folder"] == ("INBOX", True)
    assert box.push is False


def test_a_mail_slipping_in_before_idle_is_not_missed(imap):
    box = ImapBox("localhost", imap.port, imap.user, password=imap.password, ca_file=imap.ca_file)
    try:
        assert box.messages() == []
        _deliver(imap, _msg("between the look and IDLE"))
        time.sleep(0.2)
        t0 = time.monotonic()
        assert box.wait(60) is True
        assert time.monotonic() - t0 < 5
    finally:
        box.close()


def _nested(levels: int) -> bytes:
    """A mail whose MIME parts nest `levels` deep: anyone may send one to the inbox onboard reads."""
    head = b"From: someone@example.net\r\nTo: jane@example.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(levels)
    )
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nhello\r\n" + closing


def test_a_mail_nested_thousands_deep_is_read_by_its_headers_over_imap(imap):
    """Python's mail parser recurses per level: such a mail must not stop onboard reading the inbox."""
    from onboard.adapters.mail import MAX_MIME_DEPTH

    _deliver(imap, _nested(5000))
    _deliver(imap, _nested(MAX_MIME_DEPTH))
    _deliver(imap, _msg("[VOMS Admin] Your membership request for VO sandbox"))
    box = ImapBox("localhost", imap.port, imap.user, password=imap.password, ca_file=imap.ca_file)
    try:
        got = box.messages()
    finally:
        box.close()
    assert [m.subject for m in got] == [
        "nested",
        "nested",
        "[VOMS Admin] Your membership request for VO sandbox",
    ]
    assert not got[0].message.is_multipart()  # headers only
    assert got[1].message.is_multipart()  # as deep as a mail may be: parsed in full
    assert got[2].message.get_content().strip() == "hello"


def test_a_non_ascii_imap_password_logs_in(dovecot_factory, tmp_path):
    """Reproduced: `internal error: UnicodeEncodeError ... '\\xe4' in position 2` told a letter of the
    password and where it stands (IMAP LOGIN is ASCII only); SASL PLAIN carries UTF-8."""
    root = tmp_path / "mail"
    root.mkdir(mode=0o700)
    password = "pä$$wörd-Ärger"
    imap = dovecot_factory(root, password=password)
    box = ImapBox("localhost", imap.port, imap.user, password=password, ca_file=imap.ca_file)
    try:
        assert box.messages() == []
    finally:
        box.close()
    with pytest.raises(MailError) as e:  # a wrong one is refused, and the message quotes none of it
        ImapBox("localhost", imap.port, imap.user, password="wrüng", ca_file=imap.ca_file)
    assert "refused the login" in e.value.message
    assert "ü" not in e.value.message + e.value.hint and "position" not in e.value.message
