"""`onboard browser-import`'s CA step on its own: the site's root into the NSS database trusted for web
sites, and a CA the user already trusted or distrusted keeps that decision."""

from __future__ import annotations

import re
import subprocess

from cryptography.hazmat.primitives import serialization

from onboard import browser
from tests.lib.sandbox import seed_ca
from tests.lib.tools import require_tool


def _db(tmp_path):
    certutil = require_tool("certutil")
    db = tmp_path / "nssdb"
    db.mkdir()
    subprocess.run([certutil, "-N", "--empty-password", "-d", f"sql:{db}"], check=True, capture_output=True)
    return certutil, browser.Profile("Chrome/Chromium", "nssdb", db)


def _trust(certutil, profile) -> dict[str, str]:
    out = subprocess.run([certutil, "-L", "-d", profile.db], capture_output=True, text=True,
                         check=True).stdout
    return {m.group(1).strip(): m.group(2) for m in re.finditer(r"^(.*?)\s+(\S*,\S*,\S*)\s*$", out, re.M)}


def test_the_root_is_trusted_for_web_sites_and_a_user_decision_is_kept(tmp_path):
    from onboard.sandbox.ca import SandboxCA

    ca = SandboxCA(seed_ca(tmp_path / "sb") / "ca").ensure()
    certutil, profile = _db(tmp_path)
    assert browser.trust_cas(profile, [ca.personal, ca.root], "") == [
        "Onboard Sandbox Personal CA", "Onboard Sandbox Root CA"]
    trust = _trust(certutil, profile)
    assert trust["Onboard Sandbox Root CA"].startswith("C") and trust["Onboard Sandbox Personal CA"] == ",,"
    # another browser, where the user added that root under a name of their own and distrusts it
    (tmp_path / "other").mkdir()
    certutil, other = _db(tmp_path / "other")
    pem = tmp_path / "root.pem"
    pem.write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))
    subprocess.run([certutil, "-A", "-d", other.db, "-n", "My grid root", "-t", "p,p,p", "-i", str(pem)],
                   check=True, capture_output=True)
    assert browser.trust_cas(other, [ca.root], "") == []
    assert _trust(certutil, other)["My grid root"] == "p,p,p"
