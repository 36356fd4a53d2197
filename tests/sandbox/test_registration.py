"""The VOMS-Admin emulation, driven with plain requests + a client certificate (reference §1)."""

from __future__ import annotations

import re
import ssl
import subprocess

import pytest
import requests

from onboard.errors import SandboxError

from .conftest import VO, make_trainee, same_person, token_of

WAITS = "We have already received your membership request but are still waiting for you to confirm it."
LIMBO = "Your membership request is being handled by the VO administrators."
FORM = f'Welcome to the registration page for the <span class="voName">{VO}</span> VO.'
INVALID_TOKEN = "The form has already been processed or no token was supplied, please try again."


def test_no_client_certificate_fails_the_tls_handshake(sandbox, tmp_path):
    s = requests.Session()
    s.trust_env = False
    # With TLS 1.3 the client's handshake ends before the server judges it: the refusal reaches requests
    # as an SSLError (the alert read) or, when the server's close overtook the alert, as a reset or EOF.
    # Both are ConnectionErrors (SSLError is one); which one is timing. No response, in any case.
    with pytest.raises(requests.exceptions.ConnectionError):
        s.get(
            f"{sandbox.registration_url(VO)}/register/start.action",
            verify=str(sandbox.ca.bundle_path),
            timeout=10,
        )
    # TLS 1.3 lets the client finish first (it then reads an alert or EOF); the server's side is definite:
    import time

    deadline = time.monotonic() + 30  # the server logs from its connection thread (slow under load)
    while (
        "TLS handshake failed" not in (log := (tmp_path / "sb.log").read_text())
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert "TLS handshake failed" in log and "PEER_DID_NOT_RETURN_A_CERTIFICATE" in log
    assert "GET /voms/" not in log  # no request was served


def test_no_client_certificate_tls12_handshake_itself_fails(sandbox):
    import socket

    ctx = ssl.create_default_context(cafile=str(sandbox.ca.bundle_path))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # here the server's refusal ends the handshake itself
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError) as e:
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert "HANDSHAKE" in str(e.value).upper() or "CERTIFICATE" in str(e.value).upper()


def test_no_client_certificate_with_openssl_s_client(sandbox):
    """The real TLS stack's view: the server asks for a certificate and closes when none comes."""
    proc = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{sandbox.port}",
            "-servername",
            "localhost",
            "-CApath",
            str(sandbox.trust_dir),
            "-verify_return_error",
            "-ign_eof",
        ],
        input=b"GET /voms/testvo/register/start.action HTTP/1.0\r\n\r\n",
        capture_output=True,
        timeout=30,
    )
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert "certificate required" in out.lower()
    assert "Welcome to the registration" not in out


def test_client_certificate_from_another_ca_is_refused(sandbox, tmp_path):
    from onboard.sandbox.manager import Sandbox
    from onboard.sandbox.settings import Settings

    other = Sandbox(tmp_path / "other", Settings(port_base=0))  # another CA with the same names, other keys
    stranger = make_trainee(other, tmp_path / "stranger", "Eve Stranger", "eve@example.org")
    with pytest.raises(requests.exceptions.SSLError):
        stranger.session.get(
            f"{sandbox.registration_url(VO)}/register/start.action",
            verify=str(sandbox.ca.bundle_path),
            timeout=10,
        )


def test_start_page_shows_the_form_with_dn_issuer_email_and_token(trainee):
    r = trainee.get(VO, "register/start.action")
    assert r.status_code == 200
    assert FORM in r.text
    assert trainee.subject in r.text and trainee.issuer in r.text
    assert f'value="{trainee.email}"' in r.text  # pre-filled from the certificate's subjectAltName
    for field in (
        "name",
        "surname",
        "institution",
        "phoneNumber",
        "address",
        "emailAddress",
        "aupAccepted",
        "userMessage",
    ):
        assert f'name="{field}"' in r.text
    assert token_of(r.text)
    assert "JSESSIONID" in trainee.session.cookies


def test_index_redirects_to_start(trainee):
    r = trainee.get(VO, "register/index.action", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/voms/{VO}/register/start.action")


def test_submit_confirmation_required_and_request_stored(trainee, sandbox):
    r = trainee.submit()
    assert r.status_code == 200
    assert "Confirmation required." in r.text
    assert re.search(
        r"Please follow the instructions before the following date: .*\w{3} \w{3} \d\d \d\d:\d\d:\d\d "
        r"UTC \d{4}.* or your request will be discarded by voms-admin\.",
        r.text,
        re.S,
    )
    (req,) = sandbox.requests()
    assert (
        req["status"] == "SUBMITTED" and req["subject"] == trainee.subject and req["issuer"] == trainee.issuer
    )
    assert req["expiration_date"] - req["creation_date"] == 604800
    assert (req["name"], req["surname"], req["email"]) == ("Jane", "Doe", trainee.email)


def test_missing_token_shows_the_form_again_with_an_error(trainee, sandbox):
    data = trainee.form()
    del data["token"]
    r = trainee.post(VO, "register/submit-request.action", data)
    assert FORM in r.text and INVALID_TOKEN in r.text
    assert sandbox.requests() == []


def test_replayed_token_shows_the_form_again_with_an_error(trainee, sandbox):
    data = trainee.form()
    assert "Confirmation required." in trainee.post(VO, "register/submit-request.action", data).text
    r = trainee.post(VO, "register/submit-request.action", data)  # the same token again
    assert FORM in r.text and INVALID_TOKEN in r.text
    assert len(sandbox.requests()) == 1


def test_token_of_another_session_is_refused(trainee, sandbox):
    data = trainee.form()
    trainee.session.cookies.clear()  # a new session: the token belongs to the old one
    r = trainee.post(VO, "register/submit-request.action", data)
    assert INVALID_TOKEN in r.text and sandbox.requests() == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": ""}, "Please enter your name."),
        ({"surname": ""}, "Please enter your surname."),
        ({"name": "Jane <script>"}, "You entered invalid characters."),
        ({"surname": "Doe; DROP"}, "You entered invalid characters."),
        ({"institution": ""}, "Please enter your institution."),
        ({"phoneNumber": ""}, "Please enter your phone number."),
        ({"address": ""}, "Please enter your address."),
        ({"emailAddress": ""}, "Please enter your email address."),
        ({"emailAddress": "not-an-address"}, "Please enter a valid email address."),
        ({"aupAccepted": None, "__checkbox_aupAccepted": None}, "You must sign the AUP."),
        ({"aupAccepted": None}, "You must accept the terms of the AUP to proceed"),
        ({"userMessage": "a=b"}, "You entered invalid characters."),
    ],
)
def test_validation_rules(trainee, sandbox, overrides, message):
    r = trainee.submit(**overrides)
    assert FORM in r.text
    assert 'class="errorMessage"' in r.text and message in r.text
    assert sandbox.requests() == []
    # the form comes back with what was typed and a fresh token that works
    if "phoneNumber" not in overrides:
        assert 'value="+41 22 000 0000"' in r.text
    fixed = trainee.form()
    assert "Confirmation required." in trainee.post(VO, "register/submit-request.action", fixed).text


def test_ampersand_allowed_in_institution_only(trainee):
    assert "Confirmation required." in trainee.submit(institution="Smith & Jones Lab").text


def test_second_submission_while_pending_shows_waits_then_limbo(trainee, sandbox, tmp_path):
    # forms opened in three browser windows (three sessions, same certificate) before anything is sent
    others = [same_person(trainee) for _ in range(2)]
    forms = [t.form() for t in (trainee, *others)]
    assert "Confirmation required." in trainee.post(VO, "register/submit-request.action", forms[0]).text
    assert WAITS in others[0].post(VO, "register/submit-request.action", forms[1]).text
    assert WAITS in trainee.get(VO, "register/start.action").text
    assert len(sandbox.requests()) == 1
    assert "VO membership request confirmed." in trainee.session.get(trainee.confirm_link(), timeout=30).text
    assert LIMBO in others[1].post(VO, "register/submit-request.action", forms[2]).text
    assert LIMBO in trainee.get(VO, "register/start.action").text
    assert len(sandbox.requests()) == 1


def test_confirmation_link_confirms_and_tells_the_admins(trainee, sandbox):
    trainee.submit()
    link = trainee.confirm_link()
    r = trainee.session.get(link, timeout=30)
    assert "VO membership request confirmed." in r.text
    assert "The VO administrator has been informed of your request" in r.text
    assert sandbox.requests()[0]["status"] == "CONFIRMED"
    from onboard.sandbox.mail import read_maildir

    admin = read_maildir(sandbox.maildir(sandbox.settings.admin))
    assert [m["Subject"] for m in admin] == [
        f"[VOMS Admin] A vo membership request for VO {VO} requires your approval."
    ]
    # a second click: already confirmed
    assert "Your request has already been confirmed!" in trainee.session.get(link, timeout=30).text


def test_wrong_confirmation_id(trainee, sandbox):
    trainee.submit()
    link = trainee.confirm_link()
    bad = re.sub(r"confirmationId=[0-9a-f-]+", "confirmationId=00000000-0000-0000-0000-000000000000", link)
    r = trainee.session.get(bad, timeout=30)
    assert "Request Confirmation/Cancellation error." in r.text and "Wrong confirmation id!" in r.text
    assert sandbox.requests()[0]["status"] == "SUBMITTED"


def test_unknown_request_id_is_an_error_page(trainee):
    r = trainee.get(VO, "register/confirm-request.action", params={"requestId": "999", "confirmationId": "x"})
    assert "Request Confirmation/Cancellation error." in r.text and "not found" in r.text


def test_confirmation_link_needs_a_client_certificate(trainee, sandbox):
    trainee.submit()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(trainee.confirm_link(), verify=str(sandbox.ca.bundle_path), timeout=10)
    assert sandbox.requests()[0]["status"] == "SUBMITTED"


def test_cancel_link_deletes_a_submitted_request(trainee, sandbox):
    trainee.submit()
    cancel = trainee.confirm_link().replace("confirm-request", "cancel-request")
    r = trainee.session.get(cancel, timeout=30)
    assert "VO membership request cancelled." in r.text
    assert sandbox.requests() == []
    assert FORM in trainee.get(VO, "register/start.action").text


def test_cancel_refused_once_confirmed(trainee, sandbox):
    trainee.submit()
    link = trainee.confirm_link()
    trainee.session.get(link, timeout=30)
    r = trainee.session.get(link.replace("confirm-request", "cancel-request"), timeout=30)
    assert "Your request cannot be canceled at this stage!" in r.text
    assert sandbox.requests()[0]["status"] == "CONFIRMED"


def test_rejection_deletes_the_request_and_the_form_shows_again(trainee, sandbox):
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    rid = sandbox.requests()[0]["request_id"]
    sandbox.reject(rid, "not a member of the collaboration")
    assert sandbox.requests() == []
    assert FORM in trainee.get(VO, "register/start.action").text
    assert trainee.user_info().status_code == 404
    # a new request gets a new id (ids are never reused)
    trainee.submit()
    assert sandbox.requests()[0]["request_id"] > rid


def test_approval_apiv2_and_redirect_to_user_home(trainee, sandbox):
    r = trainee.user_info()
    assert r.status_code == 404 and "User not found" in r.text
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    assert trainee.user_info().status_code == 404  # confirmed is not approved
    sandbox.approve(sandbox.requests()[0]["request_id"])
    r = trainee.user_info()
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    info = r.json()
    assert info["fqans"] == [f"/{VO}"]
    assert info["emailAddress"] == trainee.email and info["name"] == "Jane" and info["surname"] == "Doe"
    assert info["certificates"][0]["subjectString"] == trainee.subject
    assert info["certificates"][0]["issuerString"] == trainee.issuer
    assert info["suspended"] is False and "phoneNumber" in info
    assert all(v is not None for v in info.values())  # excludeNullProperties
    assert info["aupAcceptanceRecords"][0]["aupVersion"] == "1.0"
    assert sandbox.requests()[0]["status"] == "APPROVED"
    r = trainee.get(VO, "register/start.action", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/voms/{VO}/user/home.action")
    home = trainee.get(VO, "register/start.action")
    assert f"/{VO}" in home.text and "Welcome to the" in home.text
    # by userId too; and the other VO knows nothing of it
    assert (
        trainee.get(
            VO, "apiv2/user-info.action", params={"userId": info["id"]}, headers={"X-VOMS-CSRF-GUARD": "y"}
        ).json()["id"]
        == info["id"]
    )
    assert trainee.user_info("othervo").status_code == 404
    stats = trainee.get(VO, "apiv2/user-stats.action", headers={"X-VOMS-CSRF-GUARD": ""}).json()
    assert stats == {"expiredUsersCount": 0, "suspendedUsersCount": 0, "usersCount": 1}
    # the member list is not for members (VOMS-Admin: read permission; the sandbox gives it to no one)
    users = trainee.get(VO, "apiv2/users", headers={"X-VOMS-CSRF-GUARD": ""}).json()
    assert users["exceptionClass"].endswith("VOMSAuthorizationException") and "result" not in users


def test_apiv2_needs_the_csrf_header_and_arguments(trainee):
    r = trainee.user_info(guard=False)
    assert r.status_code == 500 and "CSRF header guard missing from request!" in r.text
    r = trainee.get(VO, "apiv2/user-info.action", headers={"X-VOMS-CSRF-GUARD": ""})
    assert r.status_code == 400
    assert r.json() == {"errors": ["Please provide arguments: userId or the (dn, ca) couple!"]}


def test_approve_twice_and_unknown_are_refused(trainee, sandbox):
    trainee.submit()
    rid = sandbox.requests()[0]["request_id"]
    sandbox.approve(rid)  # SUBMITTED may be approved, as in VOMS-Admin
    with pytest.raises(SandboxError, match="APPROVED"):
        sandbox.approve(rid)
    with pytest.raises(SandboxError, match="no request 999"):
        sandbox.reject(999)


def test_unconfirmed_requests_expire(trainee, sandbox, clock):
    trainee.submit()
    clock.advance(604800 - 1)
    sandbox.tick()
    assert WAITS in trainee.get(VO, "register/start.action").text
    clock.advance(2)
    r = trainee.get(VO, "register/start.action")  # expiry is applied before the page is chosen
    assert FORM in r.text
    assert sandbox.requests() == []
    assert trainee.mails()[-1]["Subject"] == "[VOMS Admin] You vo membership request has expired!"


def test_confirmed_requests_do_not_expire(trainee, sandbox, clock):
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    clock.advance(30 * 86400)
    sandbox.tick()
    assert LIMBO in trainee.get(VO, "register/start.action").text


@pytest.mark.servers  # starts its own sandbox
def test_auto_approve_after(tmp_path, clock):
    from tests.lib.sandbox import start_sandbox

    sb = start_sandbox(tmp_path / "auto", clock=clock, auto_approve_after=60)
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        t.session.get(t.confirm_link(), timeout=30)
        clock.advance(59)
        sb.tick()
        assert t.user_info().status_code == 404
        clock.advance(2)
        sb.tick()
        assert t.user_info().status_code == 200
        assert sb.requests()[0]["approver"] == "auto-approve"
    finally:
        sb.stop()


@pytest.mark.servers  # starts its own sandbox
def test_on_approval_hook_gets_dn_ca_email_vo_and_no_secret(tmp_path, clock):
    from tests.lib.sandbox import start_sandbox

    out = tmp_path / "hook.out"
    script = tmp_path / "hook.sh"
    script.write_text(
        '#!/bin/sh\nprintf "%s|%s|%s|%s|%s\\n" "$ONBOARD_SANDBOX_DN" "$ONBOARD_SANDBOX_CA" '
        '"$ONBOARD_SANDBOX_EMAIL" "$ONBOARD_SANDBOX_VO" "$1" >> ' + str(out) + "\n"
    )
    script.chmod(0o755)
    sb = start_sandbox(tmp_path / "hooked", clock=clock, on_approval=f"{script} {{dn}}")
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        sb.approve(sb.requests()[0]["request_id"])
        assert out.read_text().strip() == f"{t.subject}|{t.issuer}|{t.email}|{VO}|{t.subject}"
    finally:
        sb.stop()


@pytest.mark.servers  # starts its own sandbox
def test_approval_races_run_the_hook_once_and_record_no_error(tmp_path, clock):
    """Auto-approval at once (demos, orientation): the confirmation is answered without waiting for the
    on-approval command; the ticker, a second ticker pass and the instructor's approve/reject meanwhile
    neither run the command again nor record an error."""
    import time

    from onboard.sandbox.voms_admin import ApprovalBusy
    from tests.lib.sandbox import start_sandbox

    out, release = tmp_path / "hook.out", tmp_path / "release"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\necho start >> {out}\nwhile [ ! -e {release} ]; do sleep 0.02; done\n"
                      f"echo end >> {out}\n")
    script.chmod(0o755)
    sb = start_sandbox(tmp_path / "racing", clock=clock, on_approval=str(script), auto_approve_after=0.0)
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        rid = sb.requests()[0]["request_id"]
        page = t.session.get(t.confirm_link(), timeout=30)  # answered while the hook is held back
        assert "request confirmed" in page.text
        deadline = time.monotonic() + 30
        while not (out.exists() and "start" in out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert out.read_text().split() == ["start"]  # the ticker took it
        with pytest.raises(ApprovalBusy):
            sb.approve(rid)
        with pytest.raises(ApprovalBusy):
            sb.reject(rid, "too late")
        sb.tick()  # another auto-approval pass: skips it
        release.touch()
        while sb.requests()[0]["status"] != "APPROVED" and time.monotonic() < deadline:
            time.sleep(0.02)
        row = sb.requests()[0]
        assert row["status"] == "APPROVED" and row["hook_error"] is None and row["approving"] is None
        assert out.read_text().split() == ["start", "end"]  # once
        with pytest.raises(SandboxError, match="is APPROVED"):
            sb.approve(rid)
        assert len(sb.members()) == 1
    finally:
        release.touch()
        sb.stop()


@pytest.mark.servers  # starts its own sandbox
def test_failing_hook_leaves_the_request_waiting(tmp_path, clock):
    from tests.lib.sandbox import start_sandbox

    sb = start_sandbox(
        tmp_path / "failing", clock=clock, on_approval="sh -c 'echo database down >&2; exit 3'"
    )
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        t.session.get(t.confirm_link(), timeout=30)
        with pytest.raises(SandboxError, match="exited 3: database down"):
            sb.approve(sb.requests()[0]["request_id"])
        assert sb.requests()[0]["status"] == "CONFIRMED"
        assert t.user_info().status_code == 404
    finally:
        sb.stop()


@pytest.mark.servers  # starts its own sandbox
def test_registration_disabled(tmp_path, clock):
    from tests.lib.sandbox import start_sandbox

    sb = start_sandbox(tmp_path / "off", clock=clock, disabled_vos=[VO])
    try:
        t = make_trainee(sb, tmp_path / "t")
        assert (
            "The registration service for this VO is currently disabled."
            in t.get(VO, "register/start.action").text
        )
        assert FORM.replace(VO, "othervo") in t.get("othervo", "register/start.action").text
    finally:
        sb.stop()


def test_configuration_page_has_vomses_and_lsc(trainee, sandbox):
    r = trainee.get(VO, "configuration/configuration.action")
    vomses = re.search(r'<pre id="vomsesConf">(.*?)</pre>', r.text, re.S).group(1)
    import html

    line = html.unescape(vomses)
    voms_dn = sandbox.ca.voms_dn()
    assert line == f'"{VO}" "localhost" "15000" "{voms_dn}" "{VO}"'
    lsc = html.unescape(re.search(r'<pre id="lsc">(.*?)</pre>', r.text, re.S).group(1)).split()
    assert " ".join(lsc) == f"{voms_dn} {sandbox.ca.root_dn}"
    # and the VOMS server certificate really chains to that root
    proc = subprocess.run(
        [
            "openssl",
            "verify",
            "-CApath",
            str(sandbox.trust_dir),
            str(sandbox.dir / "ca" / "voms" / "vomscert.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unknown_paths_and_methods(trainee):
    assert trainee.get(VO, "nothing/here.action").status_code == 404
    assert (
        trainee.session.get(
            f"https://localhost:{trainee.sandbox.port}/voms/novo/register/start.action", timeout=10
        ).status_code
        == 404
    )
    r = trainee.session.delete(trainee.url(VO, "register/start.action"), timeout=10)
    assert r.status_code == 405


def test_email_links_name_the_listening_port_or_8443(tmp_path, clock, trainee, sandbox):
    trainee.submit()
    assert (
        f"https://localhost:{sandbox.port}/voms/{VO}/register/confirm-request.action?requestId="
        in trainee.confirm_link()
    )
    from tests.lib.sandbox import start_sandbox

    faithful = start_sandbox(tmp_path / "faithful", clock=clock, link_port=8443)
    try:
        t = make_trainee(faithful, tmp_path / "t")
        t.submit()
        link = t.confirm_link()
        assert re.fullmatch(
            r"https://localhost:8443/voms/testvo/register/confirm-request\.action\?requestId=(\d+)"
            r"&confirmationId=([0-9a-fA-F-]{36})",
            link,
        )  # the reference's regex
        # the link maps back to the server it came from: same path and query on the real port
        mapped = link.replace(":8443/", f":{faithful.port}/")
        assert "VO membership request confirmed." in t.session.get(mapped, timeout=30).text
    finally:
        faithful.stop()


def test_tls_server_certificate_verifies_against_the_trust_dir(sandbox, trainee):
    ctx = ssl.create_default_context(capath=str(sandbox.trust_dir))
    ctx.load_cert_chain(str(trainee.pem))
    import socket

    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            cn = dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]
            assert cn == "localhost"


def test_two_trainees_are_independent(sandbox, tmp_path):
    a = make_trainee(sandbox, tmp_path / "a", "Ada Lovelace", "ada@example.org")
    b = make_trainee(sandbox, tmp_path / "b", "Bob Builder", "bob@example.org")
    a.submit()
    assert FORM in b.get(VO, "register/start.action").text
    b.submit()
    a.session.get(a.confirm_link(), timeout=30)
    assert LIMBO in a.get(VO, "register/start.action").text
    assert WAITS in b.get(VO, "register/start.action").text
    assert len(a.mails()) == 1 and len(b.mails()) == 1


def _start_with(tmp_path, clock, name, **settings):
    from tests.lib.sandbox import start_sandbox

    return start_sandbox(tmp_path / name, clock=clock, **settings)


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


@pytest.mark.servers  # starts its own sandbox
def test_group_manager_selection_then_the_manager_is_told(tmp_path, clock):
    managers = [
        {"name": "Mario Rossi", "email": "mario@example.org", "description": "Italy"},
        {"name": "Ada Byron", "email": "ada@example.org", "description": "UK"},
    ]
    sb = _start_with(tmp_path, clock, "managers", group_managers=managers)
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        page = t.session.get(t.confirm_link(), timeout=30).text
        assert "Manager selection" in page and 'name="select-manager"' in page
        # selectManager.jsp's shape: the name in a bare cell, no label
        assert 'name="managerId"\nvalue="1"' in page and "<td>\nAda Byron\n</td>" in page
        assert "<label" not in page
        rid, cid = _hidden(page, "requestId"), _hidden(page, "confirmationId")
        action = t.url(VO, "register/select-manager.action")
        r = t.session.post(action, data={"requestId": rid, "confirmationId": cid}, timeout=30)
        assert "Please select a group manager." in r.text and sb.requests()[0]["status"] == "SUBMITTED"
        r = t.session.post(
            action, data={"requestId": rid, "confirmationId": cid, "managerId": "7"}, timeout=30
        )
        assert "No manager found for id &#x27;7&#x27;." in r.text or "No manager found for id '7'." in r.text
        r = t.session.post(
            action, data={"requestId": rid, "confirmationId": "wrong", "managerId": "2"}, timeout=30
        )
        assert "Wrong confirmation id!" in r.text
        r = t.session.post(
            action, data={"requestId": rid, "confirmationId": cid, "managerId": "2"}, timeout=30
        )
        assert "VO membership request confirmed." in r.text
        from onboard.sandbox.mail import read_maildir

        (m,) = read_maildir(sb.maildir("ada@example.org"))
        assert m["Subject"].endswith("requires your approval.") and m.get_content().startswith(
            "Dear ada@example.org,"
        )
        assert not sb.maildir("mario@example.org").exists()
    finally:
        sb.stop()


@pytest.mark.servers  # starts its own sandbox
def test_group_requests_are_granted_on_approval(tmp_path, clock):
    sb = _start_with(
        tmp_path, clock, "groups", groups=["analysis", "production"], enable_attribute_requests=True
    )
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        page = t.session.get(t.confirm_link(), timeout=30).text
        assert "Group selection" in page and 'name="request-attributes"' in page
        assert f'value="/{VO}/analysis"' in page and f'value="/{VO}/production"' in page
        data = {
            "struts.token.name": "token",
            "token": token_of(page),
            "requestId": _hidden(page, "requestId"),
            "confirmationId": _hidden(page, "confirmationId"),
            "requestedGroups": [f"/{VO}/analysis", "/evil"],
        }
        r = t.session.post(t.url(VO, "register/request-attributes.action"), data=data, timeout=30)
        assert "VO membership request confirmed." in r.text
        sb.approve(sb.requests()[0]["request_id"])
        assert t.user_info().json()["fqans"] == [f"/{VO}", f"/{VO}/analysis"]
    finally:
        sb.stop()


@pytest.mark.servers  # starts its own sandbox
def test_group_request_form_needs_its_token(tmp_path, clock):
    sb = _start_with(tmp_path, clock, "grouptoken", groups=["analysis"], enable_attribute_requests=True)
    try:
        t = make_trainee(sb, tmp_path / "t")
        t.submit()
        page = t.session.get(t.confirm_link(), timeout=30).text
        data = {
            "requestId": _hidden(page, "requestId"),
            "confirmationId": _hidden(page, "confirmationId"),
            "requestedGroups": f"/{VO}/analysis",
        }
        r = t.session.post(t.url(VO, "register/request-attributes.action"), data=data, timeout=30)
        assert INVALID_TOKEN in r.text and "Group selection" in r.text
        assert sb.requests()[0]["status"] == "SUBMITTED"
    finally:
        sb.stop()


@pytest.mark.parametrize(
    ("length", "status"), [("-1", 400), ("abc", 400), ("+5", 400), ("٣", 400), (str(2 << 20), 413)]
)
def test_a_bad_or_huge_content_length_is_refused_and_the_server_goes_on(trainee, sandbox, length, status):
    import socket

    ctx = ssl.create_default_context(cafile=str(sandbox.ca.bundle_path))
    ctx.load_cert_chain(trainee.pem)
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(
                f"POST /voms/{VO}/register/submit-request.action HTTP/1.1\r\nHost: localhost\r\n"
                f"Content-Length: {length}\r\n\r\nname=x".encode()
            )
            head = tls.recv(4096).decode("latin-1")
    assert head.startswith(f"HTTP/1.1 {status} "), head
    assert trainee.get(VO, "register/start.action").status_code == 200
