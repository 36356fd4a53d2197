"""The catalog's token_issuer: the real LHC IAMs name theirs; a configured other server (a sandbox, a test
instance) does not inherit the real one's, so the token step never talks to a server nobody chose."""

from __future__ import annotations

from types import SimpleNamespace

from onboard import catalog


def test_the_lhc_iams_name_their_issuer():
    for vo in ("alice", "atlas", "cms", "lhcb"):
        entry = catalog.lookup(vo)
        assert entry.token_issuer == f"https://{vo}-auth.cern.ch/"
        assert not entry.problems()


def test_another_server_drops_the_catalogs_issuer_unless_it_names_its_own():
    cfg = SimpleNamespace(vos={"cms": {"url": "https://localhost:4443/iam/cms"}})
    assert catalog.lookup("cms", cfg).token_issuer == ""
    own = "https://localhost:4443/iam/cms/"
    cfg = SimpleNamespace(vos={"cms": {"url": "https://localhost:4443/iam/cms", "token_issuer": own}})
    assert catalog.lookup("cms", cfg).token_issuer == own


def test_an_issuer_over_plain_http_is_a_problem():
    entry = catalog.VOEntry(name="x", kind="iam", token_issuer="http://iam.example.org/")
    assert any("token_issuer" in p for p in entry.problems())
