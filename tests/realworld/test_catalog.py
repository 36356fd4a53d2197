"""The VO catalog validates: every entry loads, vomses lines have the vomses(5) format, LSCs two DN lines."""

from __future__ import annotations

import json

import pytest

from onboard import catalog
from onboard.config import Config

WANTED = {"cms", "atlas", "alice", "lhcb", "dteam", "ops"}


def test_every_entry_loads_and_validates():
    entries = catalog.shipped()
    assert WANTED <= set(entries)
    assert {e.grid for e in entries.values()} >= {"WLCG", "EGI", "OSG"}
    assert {e.kind for e in entries.values()} == {"voms-admin", "iam", "vomrs"}
    for name, e in entries.items():
        assert e.problems() == [], name
        assert e.title and e.requirements and e.url.startswith("https://"), name
        assert e.vomses and e.lsc, name


@pytest.mark.parametrize("vo", sorted(catalog.shipped()))
def test_vomses_lines_and_lsc(vo):
    e = catalog.shipped()[vo]
    for line in e.vomses:
        parsed = catalog.parse_vomses(line)
        assert parsed.vo == vo and 0 < parsed.port < 65536
        assert parsed.dn.startswith("/") and "=" in parsed.dn
        assert str(parsed) == line  # the line is exactly what voms-proxy-init reads
        lsc = e.lsc[parsed.host]
        assert len(lsc) >= 2 and lsc[0] == parsed.dn
        assert all(dn.startswith("/") for dn in lsc)
        assert e.lsc_text(parsed.host).count("\n") == len(lsc)


def test_cern_iam_vos_say_a_cern_account_is_needed_up_front():
    for vo in ("cms", "atlas", "alice", "lhcb"):
        e = catalog.lookup(vo)
        assert e.kind == "iam" and "CERN" in e.requirements and "account" in e.requirements
        host = catalog.parse_vomses(e.vomses[0]).host
        assert e.lsc[host][1] == "/DC=ch/DC=cern/CN=CERN Grid Certification Authority"


@pytest.mark.parametrize("line, why", [
    ('"cms" "voms.cern.ch" "443" "/DC=ch/CN=x"', "5 quoted"),
    ('"cms" "voms.cern.ch" "http" "/DC=ch/CN=x" "cms"', "port"),
    ('"cms" "voms cern" "443" "/DC=ch/CN=x" "cms"', "host"),
    ('"cms" "voms.cern.ch" "443" "CN=x,DC=ch" "cms"', "slash form"),
    ("cms voms.cern.ch 443 /DC=ch/CN=x cms", "double quotes"),
])
def test_bad_vomses_lines_are_refused(line, why):
    with pytest.raises(ValueError, match=why):
        catalog.parse_vomses(line)


def test_old_sixth_field_is_tolerated():
    assert catalog.parse_vomses('"x" "h.example.org" "15000" "/CN=h" "x" "24"').port == 15000


def test_lsc_needs_two_dns():
    with pytest.raises(ValueError, match="two DN lines"):
        catalog.check_lsc(["/CN=voms.example.org"])
    e = catalog.VOEntry(name="x", vomses=['"x" "h.example.org" "15000" "/CN=h" "x"'],
                        lsc={"h.example.org": ["/CN=h"]})
    assert any("two DN lines" in p for p in e.problems())
    e = catalog.VOEntry(name="x", vomses=['"x" "h.example.org" "15000" "/CN=h" "x"'])
    assert any("no LSC" in p for p in e.problems())


def test_config_overrides_and_adds():
    cfg = Config.model_validate({"vos": {
        "cms": {"requirements": "Ask Jane first."},
        "myvo": {"url": "https://voms.example.org:8443/voms/myvo",
                 "vomses": ['"myvo" "voms.example.org" "15000" "/DC=org/CN=voms.example.org" "myvo"'],
                 "lsc": {"voms.example.org": ["/DC=org/CN=voms.example.org", "/DC=org/CN=Example CA"]}},
        "dteam": {"url": "https://127.0.0.1:8443/voms/dteam"},
    }})
    cms = catalog.lookup("cms", cfg)
    assert cms.requirements == "Ask Jane first." and cms.kind == "iam" and cms.vomses  # the rest stays
    assert cms.source == "catalog+config"
    mine = catalog.lookup("myvo", cfg)
    assert mine.source == "config" and mine.kind == "voms-admin" and mine.problems() == []
    # another server for a catalog VO (a sandbox): its address says VOMS-Admin, whatever the catalog says
    assert catalog.lookup("dteam", cfg).kind == "voms-admin"
    assert catalog.lookup("nosuchvo", cfg) is None
    assert {e.name for e in catalog.all_entries(cfg)} >= WANTED | {"myvo"}


def test_onboard_vos_lists_and_shows(cli):
    r = cli("vos")
    assert r.returncode == 0
    for vo in WANTED:
        assert vo in r.stdout
    r = cli("vos", "cms")
    assert r.returncode == 0
    assert '"cms" "voms-cms-auth.cern.ch" "443"' in r.stdout
    assert "vomsdir/cms/voms-cms-auth.cern.ch.lsc" in r.stdout
    assert "CERN computing account" in r.stdout
    r = cli("vos", "--json")
    assert {e["name"] for e in json.loads(r.stdout)} >= WANTED
    r = cli("vos", "nosuchvo")
    assert r.returncode == 2 and "nosuchvo" in r.stderr
