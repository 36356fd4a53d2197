"""The obtain step: portal steps, the watched download, --p12, retired CAs, onboard's own key + CSR."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from onboard.errors import ConfigError, Exit, OnboardError, UsageError, Waiting
from onboard.steps import obtain as step
from tests.lib.pki import issue, name, pem, portal_p12

BLOB = portal_p12()


def test_waits_showing_the_portal_steps_then_takes_the_download(make_ctx):
    c = make_ctx(provider="harica")
    dl = Path(c.ctx.config.ca.download_dir)
    with pytest.raises(Waiting) as w:
        step.run(c.ctx)
    assert "cm.harica.gr" in w.value.what and w.value.next_check_after is not None
    text = c.text()
    assert "Step 1/6" in text and "Step 6/6" in text and "GÉANT Personal Authentication" in text
    assert "Certificate.p12" in text
    assert c.record.artifacts.extra["obtain"]["baseline"] == {}
    # resumed before anything arrived: waits again, without repeating the steps
    c.out.truncate(0)
    with pytest.raises(Waiting):
        step.run(c.ctx)
    assert "Step 1/6" not in c.text()
    (dl / "Certificate.p12").write_bytes(BLOB)
    step.run(c.ctx)
    got = c.record.artifacts.p12
    assert got is not None and got.read_bytes() == BLOB
    assert stat.S_IMODE(got.stat().st_mode) == 0o600
    assert not (dl / "Certificate.p12").exists()  # moved at once, not left in ~/Downloads
    # idempotent: a second run does nothing new
    step.run(c.ctx)
    assert c.record.artifacts.p12 == got


def test_a_file_already_in_downloads_is_not_taken_but_named(make_ctx, tmp_path):
    dl = tmp_path / "Downloads"
    dl.mkdir()
    (dl / "Certificate.p12").write_bytes(BLOB)
    c = make_ctx(provider="harica", download_dir=dl)
    with pytest.raises(Waiting):
        step.run(c.ctx)
    assert "was already there before" in c.text() and "--p12" in c.text()
    assert (dl / "Certificate.p12").exists()


def test_p12_at_hand_is_copied_private(make_ctx, tmp_path):
    src = tmp_path / "usercred.p12"
    src.write_bytes(BLOB)
    os.chmod(src, 0o644)
    c = make_ctx(provider="cilogon", options={"p12": src})  # a held p12 works even for a retired CA
    step.run(c.ctx)
    assert c.record.artifacts.p12.read_bytes() == BLOB
    assert stat.S_IMODE(c.record.artifacts.p12.stat().st_mode) == 0o600
    assert src.exists()  # the user's own file stays
    assert "can be read by other users" in c.text()


def test_p12_from_config(make_ctx, tmp_path):
    src = tmp_path / "certs.p12"
    src.write_bytes(BLOB)
    c = make_ctx(provider="sectigo", p12=src)
    step.run(c.ctx)
    assert c.record.artifacts.p12.read_bytes() == BLOB


def test_p12_that_is_not_one(make_ctx, tmp_path):
    bad = tmp_path / "page.p12"
    bad.write_text("<html>login</html>")
    c = make_ctx(options={"p12": bad})
    with pytest.raises(UsageError, match="not a PKCS#12"):
        step.run(c.ctx)
    with pytest.raises(UsageError, match="no such file"):
        step.run(make_ctx(options={"p12": tmp_path / "nope.p12"}).ctx)


def test_cilogon_is_retired_and_says_what_instead(make_ctx):
    c = make_ctx(provider="cilogon")
    with pytest.raises(OnboardError) as e:
        step.run(c.ctx)
    assert e.value.exit_code == Exit.CA
    assert "retired" in e.value.message and "harica" in e.value.hint and "--p12" in e.value.hint


def test_sectigo_needs_the_nren_portal(make_ctx):
    with pytest.raises(ConfigError, match="NREN"):
        step.run(make_ctx(provider="sectigo").ctx)
    c = make_ctx(provider="sectigo", portal_url="https://cert-manager.com/customer/surfnet/idp/clientgeant")
    with pytest.raises(Waiting) as w:
        step.run(c.ctx)
    assert "surfnet" in w.value.what
    text = c.text()
    assert "GÉANT IGTF-MICS Personal" in text and "Generate RSA" in text and "12 characters" in text
    assert "January 2025" in text  # says Sectigo no longer issues TCS certificates


def test_other_ca_with_a_p12(make_ctx):
    c = make_ctx(provider="other", portal_url="https://ca.example.org/request")
    with pytest.raises(Waiting):
        step.run(c.ctx)
    assert "https://ca.example.org/request" in c.text()
    (Path(c.ctx.config.ca.download_dir) / "whatever.pfx").write_bytes(BLOB)
    step.run(c.ctx)
    assert c.record.artifacts.p12.read_bytes() == BLOB


def test_no_browser_without_display(make_ctx, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda *a, **k: opened.append(a) or True)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    c = make_ctx(provider="harica", open_browser=True)
    with pytest.raises(Waiting):
        step.run(c.ctx)
    if os.sys.platform.startswith("linux"):
        assert opened == [] and "Open https://cm.harica.gr in a browser" in c.text()
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("ONBOARD_NO_BROWSER", raising=False)
    c2 = make_ctx(provider="harica", open_browser=True)
    with pytest.raises(Waiting):
        step.run(c2.ctx)
    assert opened and opened[-1][0] == "https://cm.harica.gr"
    assert "Opened https://cm.harica.gr in your browser" in c2.text()


def test_own_key_and_csr_then_the_issued_certificate(make_ctx, tmp_path, onboard_env):
    pf = tmp_path / "pass"
    pf.write_text("a long enough passphrase\n")
    c = make_ctx(provider="other", csr=True, passphrase_file=pf)
    c.ctx.config.user.given_name, c.ctx.config.user.family_name = "Jane", "Doe"
    with pytest.raises(Waiting):
        step.run(c.ctx)
    arts = c.record.artifacts
    assert stat.S_IMODE(arts.key.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in arts.key.read_bytes()
    csr = x509.load_pem_x509_csr(arts.csr.read_bytes())
    assert csr.subject.rfc4514_string() == "CN=Jane Doe"
    assert "BEGIN CERTIFICATE REQUEST" in c.text()
    # the CA issues; an unrelated certificate in Downloads is not taken for ours
    root_ca = issue(name(("DC", "org"), ("CN", "Some CA")), ca=True)
    root = root_ca.cert
    other = issue(name(("CN", "Somebody Else")), root_ca).cert
    dl = Path(c.ctx.config.ca.download_dir)
    (dl / "other.pem").write_bytes(pem(other))
    with pytest.raises(Waiting):
        step.run(c.ctx)
    mine = issue(name(("DC", "org"), ("CN", "Jane Doe")), root_ca, public_key=csr.public_key()).cert
    (dl / "jane.crt").write_bytes(pem(mine) + pem(root))
    step.run(c.ctx)
    p12 = arts.p12
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    k, cert, extra = pkcs12.load_key_and_certificates(p12.read_bytes(), b"a long enough passphrase")
    assert cert == mine and extra == [root]


def test_journey_via_cli_waits_then_resume_wait_picks_up(cli, onboard_env, tmp_path):
    dl = tmp_path / "Downloads"
    dl.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[ca]\nprovider = "harica"\ndownload_dir = "{dl}"\nopen_browser = false\n'
                   '[vos.sandboxvo]\nurl = "https://127.0.0.1:1/voms/sandboxvo"\n')
    r = cli("--config", str(cfg), "start", "--vo", "sandboxvo")
    assert r.returncode == Exit.WAITING, r.stderr
    assert "cm.harica.gr" in r.stdout + r.stderr
    t = threading.Thread(target=lambda: (time.sleep(1.0), (dl / "Certificate.p12.part").write_bytes(BLOB),
                                         time.sleep(0.5), os.replace(dl / "Certificate.p12.part",
                                                                     dl / "Certificate.p12")))
    t.start()
    r = cli("--config", str(cfg), "resume", "--wait", "--timeout", "30", timeout=60)
    t.join()
    state = json.loads((Path(onboard_env["ONBOARD_STATE_DIR"]) / "sandboxvo.json").read_text())
    p12 = state["artifacts"]["p12"]
    assert p12 and Path(p12).read_bytes() == BLOB, r.stdout + r.stderr
    assert "obtain" in state["completed"]
    assert not (dl / "Certificate.p12").exists()


def test_sandbox_ca_hands_out_a_p12_like_a_portal(make_ctx, tmp_path):
    ca_mod = pytest.importorskip("onboard.sandbox.ca")
    ca_mod.SandboxCA(tmp_path / "sandbox" / "ca").ensure()
    pf = tmp_path / "pass"
    pf.write_text("sandbox passphrase 1\n")
    with pytest.raises(ConfigError, match="sandbox directory"):
        step.run(make_ctx(provider="sandbox").ctx)
    c = make_ctx(provider="sandbox", sandbox_dir=tmp_path / "sandbox", passphrase_file=pf)
    c.ctx.config.user.given_name, c.ctx.config.user.family_name = "Jane", "Doe"
    c.ctx.config.user.email = "jane@example.org"
    step.run(c.ctx)
    p12 = c.record.artifacts.p12
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    key, cert, chain = pkcs12.load_key_and_certificates(p12.read_bytes(), b"sandbox passphrase 1")
    assert "CN=Jane Doe" in cert.subject.rfc4514_string() and key is not None and chain
    # resumed: the same file, no second certificate
    step.run(c.ctx)
    assert c.record.artifacts.p12 == p12
    assert len(ca_mod.SandboxCA(tmp_path / "sandbox" / "ca").issued()) == 1
    # interrupted after the name was recorded but before the file existed: issues it then
    c2 = make_ctx(provider="sandbox", sandbox_dir=tmp_path / "sandbox", passphrase_file=pf)
    c2.ctx.config.user.given_name, c2.ctx.config.user.email = "Joe", "joe@example.org"
    c2.record.artifacts.extra["obtain"] = {"sandbox_p12": str(tmp_path / "data" / "obtained" / "x.p12")}
    step.run(c2.ctx)
    assert c2.record.artifacts.p12 == tmp_path / "data" / "obtained" / "x.p12"


def test_killed_before_the_record_was_saved_finds_the_download_again(make_ctx, monkeypatch):
    """The original goes only after the journey has recorded the private copy."""
    c = make_ctx(provider="harica")
    dl = Path(c.ctx.config.ca.download_dir)
    with pytest.raises(Waiting):
        step.run(c.ctx)
    (dl / "Certificate.p12").write_bytes(BLOB)

    def killed():
        raise KeyboardInterrupt  # power loss while saving the record

    c.ctx.checkpoint = killed
    with pytest.raises(KeyboardInterrupt):
        step.run(c.ctx)
    assert (dl / "Certificate.p12").exists()  # still where the browser put it
    c.record.artifacts.p12 = None  # the record on disk never learnt of the copy
    c.ctx.checkpoint = lambda: None
    step.run(c.ctx)
    assert c.record.artifacts.p12.read_bytes() == BLOB and not (dl / "Certificate.p12").exists()


def test_a_web_page_saved_as_p12_is_called_out_once(make_ctx):
    c = make_ctx(provider="harica")
    dl = Path(c.ctx.config.ca.download_dir)
    with pytest.raises(Waiting):
        step.run(c.ctx)
    page = dl / "Certificate.p12"
    page.write_text("<!doctype html><html>Session expired</html>")
    old = time.time() - 60
    os.utime(page, (old, old))
    with pytest.raises(Waiting):
        step.run(c.ctx)
    assert "is not a certificate file" in c.text()
    c.err.truncate(0)
    c.err.seek(0)
    with pytest.raises(Waiting):
        step.run(c.ctx)
    assert "is not a certificate file" not in c.err.getvalue()  # once is enough
    assert c.record.artifacts.p12 is None
