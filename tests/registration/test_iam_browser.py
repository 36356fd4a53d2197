"""The LHC VOs' IAM (CERN's `cern` profile) as onboard meets it on a fresh configuration: the catalog says
"log in first", the journey is the guided one, and onboard never sends the registration itself; the only
request it makes before the person registered is the anonymous, read-only email-available question.
Answered from recorded pages (no traffic leaves the machine)."""

from __future__ import annotations

import pytest

from onboard import catalog, workflow
from onboard.errors import Waiting
from onboard.registration import flow, registrar
from onboard.steps import confirm_email, register
from tests.lib.context import output
from tests.lib.recorded import Page, RecordedServers
from tests.lib.regkit import EMAIL, make_ctx, make_record

LHC = ("alice", "atlas", "cms", "lhcb")


def _fresh_config(servers, vo="cms", mail=None):
    """What `onboard start --vo cms` has on a fresh configuration: the user, nothing about the VO."""
    from onboard.config import Config

    return Config.model_validate({
        "vo": vo,
        "user": {"given_name": "Jane", "family_name": "Doe", "email": EMAIL},
        "mail": mail or {"kind": "none"},
        "registration": {"poll_min_seconds": 60, "poll_max_seconds": 3600},
        "trust": {"cert_dir": str(servers.trust_dir)},
    })


@pytest.mark.parametrize("vo", LHC)
def test_the_catalog_sends_the_lhc_vos_through_the_guided_journey(vo):
    entry = catalog.lookup(vo)
    assert entry.kind == "iam" and entry.registration == "browser-login" and not entry.problems()
    assert entry.service == "iam-browser-login"
    assert workflow.name_for(None, vo, None) == "iam-browser-login"
    from onboard import registration

    assert registration.get(entry.service).mode is registrar.Mode.GUIDES


def test_a_registration_field_on_another_service_is_a_problem():
    e = catalog.VOEntry(name="x", kind="voms-admin", registration="browser-login")
    assert any("for IAM instances" in p for p in e.problems())
    other = catalog.VOEntry(name="x", kind="iam", registration="sso")
    assert any("not one of" in p for p in other.problems())


def _cms(tmp_path, clock, email_known: str, mail=None):
    servers = RecordedServers(tmp_path / "recorded")
    user = servers.user()
    cfg = _fresh_config(servers, mail=mail)
    ctx = make_ctx(cfg, make_record(user, workflow="", vo="cms"), user, clock)
    assert flow.kind(ctx) == "iam-browser-login"
    anon = flow.http(ctx, "https://cms-auth.cern.ch", with_cert=False, system_roots=True)
    routes = [("GET", f"/registration/email-available/{EMAIL}", Page(email_known))]
    from tests.lib.recorded import RecordedAdapter

    adapter = RecordedAdapter(routes)
    anon.session.mount("https://", adapter)
    # the session with the certificate too: whatever onboard would send stays on this machine
    flow.http(ctx, "https://cms-auth.cern.ch", system_roots=True).session.mount("https://", adapter)
    return ctx, adapter


def test_cms_on_a_fresh_configuration_guides_and_never_posts(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("ONBOARD_NO_BROWSER", "1")
    ctx, adapter = _cms(tmp_path, clock, "true")
    with pytest.raises(Waiting) as w:
        register.run(ctx)
    said = output(ctx)
    assert "Step 1 of 5" in said and "https://cms-auth.cern.ch/start-registration" in said
    assert "Step 2 of 5" in said and "CERN" in said
    assert "IAM knows" in w.value.what or EMAIL in w.value.what
    assert adapter.seen == [("GET", f"/registration/email-available/{EMAIL}")]  # no POST, ever
    assert flow.extra(ctx).get("registration") is None  # nothing reported that did not happen

    with pytest.raises(Waiting):  # the next look: one question again, the steps not repeated
        register.run(ctx)
    assert [m for m, _ in adapter.seen] == ["GET", "GET"]
    assert output(ctx).count("Step 1 of 5") == 1


def test_cms_registration_noticed_by_email_available(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("ONBOARD_NO_BROWSER", "1")
    ctx, adapter = _cms(tmp_path, clock, "false")
    register.run(ctx)
    assert flow.extra(ctx)["registration"] == "submitted"
    assert flow.extra(ctx)["registration_seen"] == "email-available"
    assert all(m == "GET" for m, _ in adapter.seen)
    assert not ctx.record.artifacts.request_id  # onboard never had a request id: it sent nothing


def test_without_a_mailbox_the_mail_step_is_shown_and_nothing_claimed(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("ONBOARD_NO_BROWSER", "1")
    ctx, adapter = _cms(tmp_path, clock, "false")
    register.run(ctx)
    ctx.state = "confirm_email"
    confirm_email.run(ctx)
    assert "Step 3 of 5" in output(ctx) and "cannot see that click" in output(ctx)
    assert flow.extra(ctx)["registration"] == "submitted"  # not "confirmed": onboard did not see it


def test_onboard_start_vo_cms_on_a_fresh_configuration_shows_the_guided_journey(tmp_path, cli):
    """`onboard start --vo cms` with nothing but the user in the configuration: the CMS journey is the
    guided one from the first moment (said up front, in the checklist), and nothing went to CERN (the
    certificate comes first: the journey waits at the CA portal without a request to any registration
    server)."""
    from onboard.errors import Exit

    cfg = tmp_path / "config.toml"
    cfg.write_text('[user]\ngiven_name = "Jane"\nfamily_name = "Doe"\nemail = "jane.doe@example.org"\n'
                   'institution = "Example University"\n')
    r = cli("--config", str(cfg), "start", "--vo", "cms", env={"ONBOARD_NO_BROWSER": "1"})
    assert r.returncode == Exit.WAITING, r.stderr
    assert "you register in your browser" in r.stdout and "never sends the registration" in r.stdout
    st = cli("--config", str(cfg), "status", "--vo", "cms")
    assert "IAM registration after a browser login (CERN SSO)" in st.stdout
    assert "Log in to the VO's IAM in a browser (CERN SSO)" in st.stdout
    assert "Send the registration request" not in st.stdout
    assert "link it from the logged-in IAM session" in st.stdout


def test_onboard_vos_says_cms_registers_after_a_login(cli):
    r = cli("vos", "cms")
    assert r.returncode == 0, r.stderr
    assert "iam, log in first (in a browser; onboard guides) at https://cms-auth.cern.ch/" in r.stdout


@pytest.mark.parametrize("display", [True, False], ids=["display", "terminal"])
def test_the_registration_page_is_opened_or_printed(tmp_path, clock, monkeypatch, display):
    import webbrowser

    opened = []
    monkeypatch.delenv("ONBOARD_NO_BROWSER", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    if display:
        monkeypatch.setenv("DISPLAY", ":0")
    else:
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    ctx, _ = _cms(tmp_path, clock, "true")
    with pytest.raises(Waiting):
        register.run(ctx)
    page = "https://cms-auth.cern.ch/start-registration"
    if display:
        assert opened == [page] and f"{page} (opened in your browser)" in output(ctx)
    else:
        assert opened == [] and f"{page} (open it in a browser with a display)" in output(ctx)


@pytest.mark.parametrize("page", [Page("<html>Sign in</html>", 200, "text/html"), Page("", 404)],
                         ids=["another-page", "not-found"])
def test_an_iam_answer_of_another_shape_is_one_error_and_changes_nothing(tmp_path, clock, monkeypatch, page):
    from onboard.errors import Exit, RegistrationError

    monkeypatch.setenv("ONBOARD_NO_BROWSER", "1")
    ctx, adapter = _cms(tmp_path, clock, "true")
    adapter.routes[:] = [("GET", f"/registration/email-available/{EMAIL}", page)]
    before = dict(flow.extra(ctx))
    with pytest.raises(RegistrationError) as e:
        register.run(ctx)
    assert e.value.exit_code == Exit.SERVER and "not true or false" in e.value.message
    assert "\n" not in e.value.message and "vos.<vo>.url" in e.value.hint
    assert flow.extra(ctx) == before
