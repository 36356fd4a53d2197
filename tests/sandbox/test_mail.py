"""The e-mails, read back from the Maildir, against VOMS-Admin's templates (reference §1.7)."""

from __future__ import annotations

import os
import re
import stat

import pytest

from onboard.sandbox.mail import mailbox_name, read_maildir

from .conftest import VO

CONFIRM = """Dear {email}, \n\nyou have requested to be a member of VO {vo}.

In order for the registration to proceed, you should confirm this
request by going to the following url:

https://localhost:{port}/voms/{vo}/register/confirm-request.action?requestId={rid}&confirmationId={cid}

In case you never requested to be a member of VO {vo}, please
let us know by going to the following url:

https://localhost:{port}/voms/{vo}/register/cancel-request.action?requestId={rid}&confirmationId={cid}

Your sincerely,
Voms-Admin registration service for VO {vo}
"""

APPROVED = """Dear {email}, \n\nyour vo membership request for VO {vo}
has been approved.


Your sincerely,
The Voms-Admin registration service for VO {vo}
"""


def test_maildir_layout_and_modes(trainee, sandbox):
    trainee.submit()
    box = sandbox.maildir(trainee.email)
    assert box == sandbox.dir / "mail" / "jane@example.org"
    for sub in ("tmp", "new", "cur"):
        assert (box / sub).is_dir()
        assert stat.S_IMODE(os.stat(box / sub).st_mode) == 0o700
    assert len(list((box / "new").iterdir())) == 1 and not list((box / "tmp").iterdir())


def test_confirmation_mail_matches_the_template(trainee, sandbox):
    trainee.submit()
    (m,) = trainee.mails()
    req = sandbox.requests()[0]
    assert m["Subject"] == f"[VOMS Admin] Your membership request for VO {VO}"
    assert m["To"] == trainee.email
    assert m["From"] == "voms-admin@localhost"
    assert m["Date"] and m["Message-ID"]
    expected = CONFIRM.format(
        email=trainee.email, vo=VO, port=sandbox.port, rid=req["request_id"], cid=req["confirm_id"]
    )
    assert m.get_content() == expected
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", req["confirm_id"]
    )


def test_admin_mail_lists_the_requester(trainee, sandbox):
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    (m,) = read_maildir(sandbox.maildir(sandbox.settings.admin))
    body = m.get_content()
    assert m["Subject"] == f"[VOMS Admin] A vo membership request for VO {VO} requires your approval."
    assert body.startswith(
        f"Dear {sandbox.settings.admin},\n\nas VO administrator of VO {VO}, your authorization "
        "is requested for the\nfollowing vo membership request issued by the following user:"
    )
    assert f"\tSubject: {trainee.subject}\n\tIssuer:  {trainee.issuer}\n" in body
    for line in (
        "\tName: Jane\n",
        "\tFamily name: Doe\n",
        "\tInstitution: Sandbox University\n",
        "\tAddress: 1 Grid Road\n",
        "\tPhone number: +41 22 000 0000\n",
        f"\tEmail: {trainee.email}\n",
    ):
        assert line in body
    assert f"https://localhost:{sandbox.port}/voms/{VO}/home/login.action" in body
    assert body.rstrip().endswith(f"The Voms-Admin registration service for VO {VO}")


def test_approval_mail(trainee, sandbox):
    trainee.submit()
    sandbox.approve(sandbox.requests()[0]["request_id"])
    m = trainee.mails()[-1]
    assert m["Subject"] == f"[VOMS Admin] Your vo membership request for VO {VO} has been approved."
    assert m.get_content() == APPROVED.format(email=trainee.email, vo=VO)


def test_rejection_mail_with_and_without_reason(trainee, sandbox):
    trainee.submit()
    sandbox.reject(sandbox.requests()[0]["request_id"])
    m = trainee.mails()[-1]
    assert m["Subject"] == f"[VOMS Admin] Your vo membership request for VO {VO} has been rejected."
    body = m.get_content()
    assert f"your vo membership request for VO {VO} has been REJECTED." in body
    assert "The reason behind the rejection" not in body
    trainee.submit()
    sandbox.reject(sandbox.requests()[0]["request_id"], "unknown to the collaboration")
    body = trainee.mails()[-1].get_content()
    assert "The reason behind the rejection is the following:\n\t\n\tunknown to the collaboration\n" in body


def test_expiry_mail(trainee, sandbox, clock):
    trainee.submit()
    clock.advance(604801)
    sandbox.tick()
    m = trainee.mails()[-1]
    assert m["Subject"] == "[VOMS Admin] You vo membership request has expired!"
    assert m.get_content().startswith(
        f"Dear {trainee.email}, \n\nyour membership request for VO {VO} has expired "
        "since you didn't confirm it in time\n"
    )


@pytest.mark.servers  # starts its own sandbox
def test_mail_to_smtp(tmp_path, clock):
    """With an SMTP server configured, mail goes there (a tiny real SMTP server on loopback)."""
    import socket
    import threading

    from tests.lib.sandbox import start_sandbox

    from .conftest import make_trainee

    received: list[bytes] = []
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def smtp() -> None:
        conn, _ = srv.accept()
        f = conn.makefile("rwb")
        f.write(b"220 test ESMTP\r\n")
        f.flush()
        data = False
        for line in f:
            if data:
                if line == b".\r\n":
                    data = False
                    f.write(b"250 queued\r\n")
                else:
                    received.append(line)
            elif line.upper().startswith(b"DATA"):
                data = True
                f.write(b"354 go\r\n")
            elif line.upper().startswith(b"QUIT"):
                f.write(b"221 bye\r\n")
                f.flush()
                break
            elif line.upper().startswith((b"EHLO", b"HELO")):
                f.write(b"250 test\r\n")
            else:
                f.write(b"250 ok\r\n")
            f.flush()
        conn.close()

    th = threading.Thread(target=smtp, daemon=True)
    th.start()
    sb = start_sandbox(tmp_path / "smtp", clock=clock, smtp=f"127.0.0.1:{port}")
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        th.join(10)
        text = b"".join(received).decode()
        assert f"Subject: [VOMS Admin] Your membership request for VO {VO}" in text
        assert "/register/confirm-request.action?requestId=" in text
        assert not sb.maildir(t.email).exists()
    finally:
        sb.stop()
        srv.close()


def test_mailbox_names_are_plain_addresses():
    assert mailbox_name("Jane.Doe@Example.org") == "jane.doe@example.org"
    for bad in ("../etc@x.org", "a/b@x.org", ".hidden@x.org", "x y@z.org", ""):
        try:
            mailbox_name(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


@pytest.mark.servers  # starts its own sandbox
def test_mail_failure_is_logged_and_the_request_stands(tmp_path, clock):
    import socket

    from tests.lib.sandbox import start_sandbox

    from .conftest import make_trainee

    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: the SMTP server is "down"
    sb = start_sandbox(tmp_path / "nosmtp", clock=clock, smtp=f"127.0.0.1:{port}")
    try:
        t = make_trainee(sb, tmp_path / "t")
        assert "Confirmation required." in t.submit().text
        assert sb.requests()[0]["status"] == "SUBMITTED"
        assert "failed: ConnectionRefusedError" in (tmp_path / "nosmtp.log").read_text()
    finally:
        sb.stop()


def test_apostrophe_address_gets_its_maildir(sandbox, tmp_path):
    from .conftest import make_trainee

    t = make_trainee(sandbox, tmp_path / "ob", "Sean O'Brien", "sean.o'brien@example.org")
    assert "Confirmation required." in t.submit().text
    assert t.mails()[0]["To"] == "sean.o'brien@example.org"


def test_default_port_base_makes_the_links_exactly_voms_admins(tmp_path):
    """With the default port base the sandbox listens on 8443, the port VOMS-Admin hard-codes in links."""
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.settings import Settings
    from onboard.sandbox.voms_admin import request_url

    st = Settings()
    assert (st.port_for("voms"), st.port_for("open"), st.port_for("ssh")) == (8443, 8444, 8445)
    ctx = SandboxContext(tmp_path / "d", st, log_file=tmp_path / "log")
    row = {"vo": "cms", "request_id": 42, "confirm_id": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    assert request_url(ctx, "confirm", row) == (
        "https://localhost:8443/voms/cms/register/confirm-request.action"
        "?requestId=42&confirmationId=0f8fad5b-d9cb-469f-a165-70867728950e"
    )
