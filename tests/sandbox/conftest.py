"""Fixtures for the sandbox tests: a sandbox on loopback (free ports) and trainees with certificates.

The registration server is exercised with plain `requests` and a client certificate, never with
onboard's own registration code: these tests say what the server does, whoever the client is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from onboard.sandbox.manager import Sandbox
from tests.lib.sandbox import VO, prepare_sandbox, start_sandbox

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def sandbox(tmp_path, clock):
    sb = start_sandbox(tmp_path / "sb", clock=clock)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def prepared(tmp_path):
    """A sandbox with its CA and certificates made, nothing started: for what needs the CA alone."""
    return prepare_sandbox(tmp_path / "sb")


@dataclass
class Trainee:
    """A person with a certificate from the sandbox CA, using the registration server as a browser would."""

    sandbox: Sandbox
    name: str
    email: str
    subject: str
    issuer: str
    pem: Path  # certificate + key, for requests (test files only)
    p12: Path
    session: requests.Session

    def url(self, vo: str, path: str) -> str:
        return f"{self.sandbox.registration_url(vo)}/{path}"

    def get(self, vo: str, path: str, **kw) -> requests.Response:
        return self.session.get(self.url(vo, path), timeout=30, **kw)

    def post(self, vo: str, path: str, data: dict, **kw) -> requests.Response:
        return self.session.post(self.url(vo, path), data=data, timeout=30, **kw)

    def form(self, vo: str = VO, **overrides) -> dict[str, str]:
        """Open the start page, and fill the form it shows (with its token)."""
        r = self.get(vo, "register/start.action")
        assert r.status_code == 200, r.text
        token = token_of(r.text)
        first, _, last = self.name.partition(" ")
        data = {
            "struts.token.name": "token",
            "token": token,
            "name": first,
            "surname": last or "X",
            "institution": "Sandbox University",
            "phoneNumber": "+41 22 000 0000",
            "address": "1 Grid Road",
            "emailAddress": self.email,
            "aupAccepted": "true",
            "__checkbox_aupAccepted": "true",
            "userMessage": "please let me in",
        }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}

    def submit(self, vo: str = VO, **overrides) -> requests.Response:
        return self.post(vo, "register/submit-request.action", self.form(vo, **overrides))

    def mails(self) -> list:
        from onboard.sandbox.mail import read_maildir

        return read_maildir(self.sandbox.maildir(self.email))

    def confirm_link(self, vo: str = VO) -> str:
        for m in reversed(self.mails()):
            if m["Subject"] == f"[VOMS Admin] Your membership request for VO {vo}":
                return re.search(r"https://\S+/confirm-request\.action\?\S+", m.get_content()).group(0)
        raise AssertionError("no confirmation mail")

    def user_info(self, vo: str = VO, guard: bool = True) -> requests.Response:
        headers = {"X-VOMS-CSRF-GUARD": ""} if guard else {}
        return self.get(
            vo, "apiv2/user-info.action", params={"dn": self.subject, "ca": self.issuer}, headers=headers
        )


def token_of(html: str) -> str:
    assert 'name="struts.token.name" value="token"' in html
    m = re.search(r'<input type="hidden" name="token" value="([^"]+)"', html)
    assert m, "no Struts token in the page"
    return m.group(1)


def same_person(t: Trainee) -> Trainee:
    """The same certificate in a new browser session."""
    s = requests.Session()
    s.trust_env = False
    s.verify, s.cert = t.session.verify, t.session.cert
    return Trainee(t.sandbox, t.name, t.email, t.subject, t.issuer, t.pem, t.p12, s)


def make_trainee(
    sandbox: Sandbox,
    directory: Path,
    name: str = "Jane Doe",
    email: str = "jane@example.org",
    legacy: bool = False,
) -> Trainee:
    directory.mkdir(parents=True, exist_ok=True)
    p12 = directory / f"{email}.p12"
    data, info = sandbox.issue_user_p12(name, email, PASSPHRASE, legacy=legacy, out=p12)
    key, cert, _ = pkcs12.load_key_and_certificates(data, PASSPHRASE)
    pem = directory / f"{email}.pem"
    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            cert.public_bytes(Encoding.PEM)
            + key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        )
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace `verify`
    s.verify = str(sandbox.ca.bundle_path)
    s.cert = str(pem)
    return Trainee(sandbox, name, email, info.subject, info.issuer, pem, p12, s)


@pytest.fixture
def trainee(sandbox, tmp_path) -> Trainee:
    return make_trainee(sandbox, tmp_path / "jane")
