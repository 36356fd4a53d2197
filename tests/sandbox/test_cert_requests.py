"""VOMS-Admin's certificate request for an existing member, driven with plain requests and client
certificates (the server's behaviour, whoever the client): upstream's request-certificate action, its
checks and messages, the mails, the administrator's approval (the certificate joins the membership: no
second member) or rejection; and the CA switch (a second sandbox CA issues, its files trusted at once)."""

from __future__ import annotations

import re

from onboard import cli
from onboard.errors import Exit
from onboard.sandbox import ca_switch
from onboard.sandbox.mail import read_maildir
from onboard.sandbox.voms_admin import cert_requests

from .conftest import VO, make_trainee, token_of

WAITING = "(Waiting for approval)"


def _member(trainee, sandbox):
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    sandbox.approve(sandbox.requests()[0]["request_id"])
    assert trainee.user_info().status_code == 200


def _form(trainee) -> str:
    """The home page's "Add an additional certificate" button (a POST with method:input), as a browser."""
    home = trainee.get(VO, "user/home.action")
    assert home.status_code == 200 and "Add an additional certificate" in home.text
    uid = re.search(r'name="userId" value="(\d+)"', home.text).group(1)
    r = trainee.post(VO, "user/request-certificate.action",
                     {"userId": uid, "method:input": "Add an additional certificate"})
    assert r.status_code == 200
    assert "Request that a new certificate is added to your membership" in r.text
    assert 'enctype="multipart/form-data"' in r.text and 'name="certificateFile"' in r.text
    return r.text


def _post(trainee, page: str, pem: bytes | None = None, **fields):
    data = {"struts.token.name": "token", "token": token_of(page), **fields}
    files = {"certificateFile": ("usercert.pem", pem, "application/x-pem-file")} if pem is not None else None
    if files is None:  # still multipart, as the browser sends the form (an empty file part)
        files = {"certificateFile": ("", b"", "application/octet-stream")}
    return trainee.session.post(trainee.url(VO, "user/request-certificate.action"), data=data, files=files,
                                timeout=30, allow_redirects=False)


def _cert_pem(t) -> bytes:
    text = t.pem.read_bytes()
    return text[: text.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----\n")]


def test_a_member_asks_for_a_new_certificate_and_the_administrator_approves(trainee, sandbox, tmp_path):
    _member(trainee, sandbox)
    new = make_trainee(sandbox, tmp_path / "new", name="Jane Q Doe", email=trainee.email)
    # a stranger's new certificate cannot use the form: it is no member
    r = new.get(VO, "user/request-certificate!input.action", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/register/start.action")

    r = _post(trainee, _form(trainee), _cert_pem(new))
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/voms/{VO}/user/home.action")
    home = trainee.get(VO, "user/home.action").text
    assert WAITING in home and f'<div class="requestedDN">{new.subject}</div>' in home
    admin = [m for m in read_maildir(sandbox.maildir(sandbox.settings.admin))
             if m["Subject"] == f"[VOMS Admin] A certificate request for VO {VO} requires your approval."]
    assert len(admin) == 1 and new.subject in admin[0].get_content()
    # the same request again: upstream's message, nothing new
    r = _post(trainee, _form(trainee), _cert_pem(new))
    assert r.status_code == 200 and cert_requests.PENDING in r.text
    assert len(cert_requests.pending(sandbox.ctx, VO)) == 1
    assert new.user_info().status_code == 404  # not yet

    (req,) = cert_requests.pending(sandbox.ctx, VO)
    cert_requests.approve(sandbox.ctx, req["request_id"])
    assert new.user_info().status_code == 200  # the new certificate is the member's
    assert len({m["id"] for m in sandbox.members(VO)}) == 1
    info = trainee.user_info().json()
    assert [c["subjectString"] for c in info["certificates"]] == [trainee.subject, new.subject]
    approved = [m for m in read_maildir(sandbox.maildir(trainee.email))
                if m["Subject"] == f"[VOMS Admin] Your certificate request for VO {VO} has been approved."]
    assert len(approved) == 1
    body = approved[0].get_content()
    assert f"subject: {new.subject}" in body and "is now active for your VOMS membership" in body
    home = trainee.get(VO, "user/home.action").text
    assert WAITING not in home and f'<div class="userDN">{new.subject}</div>' in home
    # bound now: asking again is refused
    r = _post(trainee, _form(trainee), _cert_pem(new))
    assert cert_requests.BOUND in r.text


def test_the_request_forms_checks_are_upstreams(trainee, sandbox, tmp_path):
    _member(trainee, sandbox)
    page = _form(trainee)
    r = _post(trainee, page, _cert_pem(trainee))  # the member's own certificate
    assert r.status_code == 200 and cert_requests.BOUND in r.text
    r = _post(trainee, _form(trainee))  # neither a file nor a subject
    assert cert_requests.NEITHER in r.text
    r = _post(trainee, _form(trainee), b"not a certificate")
    assert "Please upload a valid X509, PEM encoded certificate." in r.text
    r = _post(trainee, _form(trainee), subject="/DC=org/CN=x<script>", caSubject=sandbox.ca.personal_dn)
    assert "illegal characters" in r.text
    r = _post(trainee, page, _cert_pem(make_trainee(sandbox, tmp_path / "n", name="Jane R Doe")))
    assert "The form has already been processed" in r.text  # the token was used up
    # subject + CA couple, typed
    r = _post(trainee, _form(trainee), subject="/DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=Personal/"
              "CN=Jane Typed", caSubject=sandbox.ca.personal_dn)
    assert r.status_code == 302
    typed = [q["subject"].rsplit("CN=", 1)[1] for q in cert_requests.pending(sandbox.ctx, VO)]
    assert typed == ["Jane Typed"]
    assert cert_requests.pending(sandbox.ctx, VO)[0]["status"] == "SUBMITTED"


def test_rejection_and_the_instructors_commands(trainee, sandbox, tmp_path, capsys):
    _member(trainee, sandbox)
    new = make_trainee(sandbox, tmp_path / "new", name="Jane S Doe", email=trainee.email)
    assert _post(trainee, _form(trainee), _cert_pem(new)).status_code == 302
    d = str(sandbox.dir)
    assert cli.main(["sandbox", "cert-requests", "--dir", d]) == Exit.OK
    assert new.subject in capsys.readouterr().out
    (req,) = cert_requests.pending(sandbox.ctx, VO)
    assert cli.main(["sandbox", "cert-reject", "--dir", d, str(req["request_id"])]) == Exit.OK
    capsys.readouterr()
    assert cli.main(["sandbox", "cert-approve", "--dir", d, str(req["request_id"])]) == Exit.SANDBOX
    err = capsys.readouterr().err
    assert "REJECTED" in err and "Traceback" not in err
    assert new.user_info().status_code == 404
    assert any(m["Subject"] == f"[VOMS Admin] Your certificate request for VO {VO} has been rejected."
               for m in read_maildir(sandbox.maildir(trainee.email)))
    assert WAITING not in trainee.get(VO, "user/home.action").text


def test_the_ca_switch_issues_from_a_second_trusted_ca(trainee, sandbox, tmp_path, capsys):
    _member(trainee, sandbox)
    assert cli.main(["sandbox", "ca-switch", "--dir", str(sandbox.dir), "--transliterate"]) == Exit.OK
    assert "Onboard Sandbox Personal CA 2" in capsys.readouterr().out
    new = make_trainee(sandbox, tmp_path / "new", name="Jürgen Müller", email=trainee.email)
    assert new.issuer.endswith("CN=Onboard Sandbox Personal CA 2")
    assert new.subject.endswith("CN=Juergen Mueller")
    # the server trusts the new CA at once (the TLS handshake with its certificate works)
    r = new.get(VO, "register/start.action")
    assert r.status_code == 200
    page = _form(trainee)
    assert ca_switch.issuer_subjects(sandbox.ca)[1] in page  # offered in the CA select
    assert _post(trainee, page, _cert_pem(new)).status_code == 302
    (req,) = cert_requests.pending(sandbox.ctx, VO)
    assert (req["subject"], req["issuer"]) == (new.subject, new.issuer)
    assert cli.main(["sandbox", "ca-switch", "--dir", str(sandbox.dir), "--back"]) == Exit.OK
    again = make_trainee(sandbox, tmp_path / "again", name="Jürgen Müller", email="j2@example.org")
    assert again.issuer == sandbox.ca.personal_dn and "Juergen" not in again.subject


def test_registration_disabled_takes_no_certificate_request(trainee, sandbox, tmp_path):
    _member(trainee, sandbox)
    page = _form(trainee)
    sandbox.ctx.settings.disabled_vos.append(VO)
    try:
        new = make_trainee(sandbox, tmp_path / "new", name="Jane T Doe", email=trainee.email)
        r = _post(trainee, page, _cert_pem(new))
        assert "Registration disabled" in r.text
        assert "Add an additional certificate" not in trainee.get(VO, "user/home.action").text
        assert cert_requests.pending(sandbox.ctx, VO) == []
    finally:
        sandbox.ctx.settings.disabled_vos.remove(VO)
