"""The sandbox's IAM with CERN's `cern` profile, over HTTPS as a client sees it: the anonymous registration
refused as upstream refuses it (RegistrationApiController + CernHrDbRequestValidatorService: 400,
ErrorDTO {"error": "User is not authenticated"}), the anonymous availability questions still answered,
the "sandbox SSO — not CERN" login proving only the mailbox, and account linking that needs the login."""

from __future__ import annotations

import re

import pytest
import requests

from onboard.adapters.mail import MaildirBox
from tests.lib.regkit import start_registration_servers

VO = "cms"
pytestmark = pytest.mark.servers  # the sandbox, in this process


@pytest.fixture
def cern(tmp_path, clock):
    sb = start_registration_servers(tmp_path / "sb", vos=(VO, "plainvo"), clock=clock, cern_profile_vos=[VO])
    try:
        yield sb
    finally:
        sb.stop()


def _session(sb) -> requests.Session:
    s = requests.Session()
    s.verify = str(sb.manager.ca.bundle_path)  # the sandbox CA: TLS verified as always
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would win over session.verify
    return s


def test_anonymous_registration_is_refused_as_upstream_refuses_it(cern):
    s = _session(cern)
    body = {"username": "jdoe", "givenname": "Jane", "familyname": "Doe", "email": "jane@example.org",
            "notes": "x"}
    r = s.post(f"{cern.iam_url(VO)}/registration/create", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "User is not authenticated"}
    assert s.get(f"{cern.iam_url(VO)}/registration/email-available/jane@example.org").json() is True
    # the plain IAM beside it still takes the JSON request
    assert s.post(f"{cern.iam_url('plainvo')}/registration/create", json=body).status_code == 200
    subjects = [m.subject for m in MaildirBox(cern.maildir("jane@example.org")).messages()]
    assert subjects == ["[plainvo IAM] Confirm your plainvo registration request"]  # none from cms


def _sso_login(cern, s, email, nxt="registration"):
    base = cern.iam_url(VO)
    page = s.get(f"{base}/sandbox-sso/login", params={"next": nxt}).text
    assert "sandbox SSO — not CERN" in page
    token = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
    r = s.post(f"{base}/sandbox-sso/login", data={"_csrf": token, "next": nxt, "givenname": "Jane",
                                                  "familyname": "Doe", "email": email})
    assert r.status_code == 200, r.text
    mails = [m for m in MaildirBox(cern.maildir(email)).messages() if "sandbox SSO - not CERN" in m.subject]
    link = re.search(r"https://\S+/sandbox-sso/callback/\S+", mails[-1].message.get_content()).group(0)
    return link


def test_the_sso_link_logs_in_once_and_the_form_registers(cern):
    s = _session(cern)
    base = cern.iam_url(VO)
    assert "Sign in with sandbox SSO" in s.get(f"{base}/start-registration").text
    link = _sso_login(cern, s, "jane@example.org")
    other = _session(cern)  # another browser: the link is not for it (login CSRF; test_attacker_cern.py)
    assert other.get(link).status_code == 404
    assert "jane@example.org" in s.get(link).text  # the browser that asked
    assert s.get(link).status_code == 404  # used
    link = _sso_login(cern, s, "jane@example.org")
    form = s.get(link).text  # redirected to the registration form, name and e-mail from the login
    assert "Jane Doe" in form and "jane@example.org" in form
    token = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
    assert s.post(f"{base}/registration/create", data={"username": "jdoe"}).status_code == 403  # no token
    r = s.post(f"{base}/registration/create", data={"_csrf": token, "username": "jdoe", "notes": "hi"})
    assert r.url.endswith("/registration/submitted"), r.text
    assert s.get(f"{base}/registration/email-available/jane@example.org").json() is False
    assert s.get(f"{base}/registration/username-available/jdoe").json() is False


def test_linking_needs_a_login_and_a_presented_certificate(cern):
    s = _session(cern)
    base = cern.iam_url(VO)
    r = s.post(f"{base}/iam/account-linking/X509", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert s.get(f"{base}/dashboard", allow_redirects=False).headers["Location"].endswith("/login")


def test_sign_in_links_are_not_a_mail_cannon(cern):
    s = _session(cern)
    for _ in range(3):
        _sso_login(cern, s, "victim@example.org")
    base = cern.iam_url(VO)
    page = s.get(f"{base}/sandbox-sso/login").text
    token = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
    r = s.post(f"{base}/sandbox-sso/login",
               data={"_csrf": token, "givenname": "Eve", "familyname": "Attacker",
                     "email": "victim@example.org"})
    assert r.status_code == 429


def test_sandbox_up_refuses_the_cern_profile_for_a_vo_it_does_not_serve(tmp_path):
    from tests.lib.tools import run_onboard

    r = run_onboard("sandbox", "up", "--dir", str(tmp_path / "sb"), "--vo", "alpha", "--cern-profile", "cms",
                    timeout=60)
    assert r.returncode == 2, r.stderr
    assert "'cms' (CERN profile) is not one of the VOs served" in r.stderr
    assert not (tmp_path / "sb" / "sandbox.json").exists()


def test_the_trainees_configuration_names_the_guided_journey(tmp_path):
    from tests.lib.sandbox import prepare_sandbox

    sb = prepare_sandbox(tmp_path / "sb", vos=(VO, "plainvo"), cern_profile_vos=[VO])
    cfg = sb.onboard_config(vo=VO, email="jane@example.org")
    assert cfg["vos"][VO]["kind"] == "iam" and cfg["vos"][VO]["registration"] == "browser-login"
    assert cfg["vos"][VO]["url"].endswith(f"/iam/{VO}")
    assert cfg["registration"]["voms_aa_url"].endswith(f"/iam/{VO}/generate-ac")
    assert cfg["vos"]["plainvo"]["kind"] == "voms-admin" and "registration" not in cfg["vos"]["plainvo"]
    from onboard.config import Config

    # what a trainee's onboard reads (the submit host is left out: nothing listens, its port is 0)
    parsed = Config.model_validate({k: v for k, v in cfg.items() if k != "submit_host"})
    from onboard.registration import flow

    assert flow.registration_kind(parsed, VO) == "iam-browser-login"
    assert flow.registration_kind(parsed, "plainvo") == "voms-admin"


@pytest.mark.parametrize(
    "address", ["a,b@example.org", "Eve <eve@example.org>", "x@example.org\nBcc: y@e.org"],
    ids=["list", "display-name", "header"])
def test_the_sso_mails_one_plain_address_only(cern, address):
    s = _session(cern)
    base = cern.iam_url(VO)
    token = re.search(r'name="_csrf" value="([^"]+)"', s.get(f"{base}/sandbox-sso/login").text).group(1)
    r = s.post(f"{base}/sandbox-sso/login",
               data={"_csrf": token, "givenname": "Eve", "familyname": "Attacker", "email": address})
    assert r.status_code == 400
    assert not list((cern.dir / "mail").glob("*/new/*"))  # nothing was sent anywhere


def test_a_joining_trainee_gets_the_guided_journey(tmp_path):
    """`onboard sandbox join`'s configuration (portal.trainee_config) for a CERN-profile VO."""
    from onboard.config import Config
    from onboard.registration import flow
    from onboard.sandbox import portal, web
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.settings import Settings
    from tests.lib.sandbox import seed_ca

    ctx = SandboxContext(seed_ca(tmp_path / "sb"), Settings(port_base=0, vos=[VO, "plainvo"],
                                                            cern_profile_vos=[VO]))
    app = web.App(ctx)
    app.ports.update(voms=18443, open=18444)
    cfg = portal.trainee_config(app)
    assert cfg["vos"][VO]["registration"] == "browser-login" and cfg["vos"][VO]["kind"] == "iam"
    assert cfg["vos"][VO]["url"].endswith(f":18444/iam/{VO}")
    assert cfg["registration"]["voms_aa_url"].endswith(f":18444/iam/{VO}/generate-ac")
    assert cfg["vos"]["plainvo"]["kind"] == "voms-admin"
    parsed = Config.model_validate({k: v for k, v in cfg.items() if k != "submit_host"})
    assert flow.registration_kind(parsed, VO) == "iam-browser-login"
