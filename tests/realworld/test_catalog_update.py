"""`onboard vos --update`: vomses and LSC refreshed from the OSG vo-client layout (a directory or a
tarball shaped as opensciencegrid/osg-vo-config is), every line checked, nothing changed on a refusal."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from onboard import catalog
from tests.lib.tools import run_onboard

FNAL_CA = "/C=US/O=Internet2/CN=InCommon RSA IGTF Server CA 3"


def _dn(host: str) -> str:
    return f"/DC=org/DC=incommon/C=US/ST=Illinois/O=Fermi Research Alliance/CN={host}"


VOMSES = (
    "# vo-client vomses\n"
    f'"fermilab" "voms1.fnal.gov" "15001" "{_dn("voms1.fnal.gov")}" "fermilab"\n'
    f'"fermilab" "voms3.fnal.gov" "15001" "{_dn("voms3.fnal.gov")}" "fermilab"\n'
    # spaced as osg-vo-config spaces its CMS line
    '"cms"   "voms-cms-auth.cern.ch"   "443" "/DC=ch/DC=cern/OU=computers/CN=cms-auth.cern.ch"   "cms"\n'
    # the legacy endpoint the vo-client package deletes
    '"cms" "voms-cms-auth.app.cern.ch" "443" "/DC=ch/DC=cern/OU=computers/CN=cms-auth.web.cern.ch" "cms"\n'
    # a VO the catalog does not know: checked, not added
    '"gluex" "voms.gluex.org" "15000" "/C=JP/O=KEK/OU=CRC/CN=host/voms.gluex.org" "gluex"\n'
)
LSC = {
    "fermilab/voms1.fnal.gov": [_dn("voms1.fnal.gov"), FNAL_CA],
    "fermilab/voms3.fnal.gov": [_dn("voms3.fnal.gov"), FNAL_CA],
    "cms/voms-cms-auth.cern.ch": [
        "/DC=ch/DC=cern/OU=computers/CN=cms-auth.cern.ch",
        "/DC=ch/DC=cern/CN=CERN Grid Certification Authority",
    ],
    "cms/voms-cms-auth.app.cern.ch": [
        "/DC=ch/DC=cern/OU=computers/CN=cms-auth.web.cern.ch",
        "/DC=ch/DC=cern/CN=CERN Grid Certification Authority",
    ],
    "gluex/voms.gluex.org": ["/C=JP/O=KEK/OU=CRC/CN=host/voms.gluex.org", "/C=JP/O=KEK/CN=KEK GRID CA"],
}


def layout(root: Path, vomses: str = VOMSES, lsc: dict[str, list[str]] | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "vomses").write_text(vomses)
    for name, dns in (LSC if lsc is None else lsc).items():
        path = root / "vomsdir" / f"{name}.lsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(dns) + "\n")
    return root


def tarball(root: Path, out: Path, prefix: str = "osg-vo-config-master") -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path in sorted(root.rglob("*")):
            tf.add(path, arcname=f"{prefix}/{path.relative_to(root)}", recursive=False)
    out.write_bytes(buf.getvalue())
    return out


def overlay(tmp_path: Path) -> Path:
    return tmp_path / "data" / "vos.toml"


def _vos(tmp_path, *args):
    return run_onboard("vos", *args, env={"ONBOARD_DATA_DIR": str(tmp_path / "data")}, timeout=60)


def _entry(tmp_path, vo: str) -> dict:
    r = _vos(tmp_path, vo, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _check_updated(tmp_path, r):
    assert r.returncode == 0, r.stderr
    assert "fermilab: updated" in r.stdout and '+ "fermilab" "voms3.fnal.gov"' in r.stdout
    assert "cms: unchanged" in r.stdout and "gluex" not in r.stdout
    fermilab = _entry(tmp_path, "fermilab")
    assert [catalog.parse_vomses(v).host for v in fermilab["vomses"]] == ["voms1.fnal.gov", "voms3.fnal.gov"]
    assert fermilab["lsc"]["voms3.fnal.gov"] == [_dn("voms3.fnal.gov"), FNAL_CA]
    assert "(vo-client layout)" in fermilab["data_from"] and fermilab["checked"][:2] == "20"
    cms = _entry(tmp_path, "cms")  # the legacy endpoint was left out, as vo-client does
    assert [catalog.parse_vomses(v).host for v in cms["vomses"]] == ["voms-cms-auth.cern.ch"]
    assert overlay(tmp_path).stat().st_mode & 0o077 == 0


def test_update_from_a_directory(tmp_path):
    src = layout(tmp_path / "vo-client")
    _check_updated(tmp_path, _vos(tmp_path, "--update", str(src)))


def test_update_from_a_tarball_with_a_top_directory(tmp_path):
    src = tarball(layout(tmp_path / "vo-client"), tmp_path / "vo-client.tar.gz")
    _check_updated(tmp_path, _vos(tmp_path, "--update", str(src)))


@pytest.mark.parametrize(
    ("vomses", "lsc", "names"),
    [
        (VOMSES + '"fermilab" "voms4.fnal.gov" "15001" "fermilab"\n', None, "vomses line 7: expected 5"),
        (VOMSES.replace('"15001"', '"port"', 1), None, "vomses line 2: port 'port'"),
        (VOMSES + "fermilab voms4.fnal.gov 15001\n", None, "vomses line 7: every field must be in double"),
        (VOMSES, {**LSC, "fermilab/voms3.fnal.gov": [_dn("voms3.fnal.gov"), "InCommon CA"]},
         "vomsdir/fermilab/voms3.fnal.gov.lsc line 2"),
        (VOMSES, {k: v for k, v in LSC.items() if k != "fermilab/voms3.fnal.gov"},
         "vomses line 3: no vomsdir/fermilab/voms3.fnal.gov.lsc"),
        (VOMSES, {**LSC, "fermilab/voms3.fnal.gov": [_dn("voms9.fnal.gov"), FNAL_CA]},
         "vomses line 3: the server DN differs"),
    ],
)
def test_a_malformed_line_is_refused_naming_file_and_line_and_nothing_changes(tmp_path, vomses, lsc, names):
    good = _vos(tmp_path, "--update", str(layout(tmp_path / "good")))
    assert good.returncode == 0, good.stderr
    before = overlay(tmp_path).read_bytes()
    for src in (layout(tmp_path / "bad", vomses, lsc), tarball(tmp_path / "bad", tmp_path / "bad.tgz")):
        r = _vos(tmp_path, "--update", str(src))
        assert r.returncode == 44, (r.stdout, r.stderr)
        error, hint = r.stderr.strip().splitlines()
        assert names in error and "Traceback" not in r.stderr and "Nothing was changed" in hint
        assert overlay(tmp_path).read_bytes() == before


def test_a_refusal_with_no_overlay_yet_creates_none(tmp_path):
    r = _vos(tmp_path, "--update", str(layout(tmp_path / "bad", VOMSES + '"x"\n')))
    assert r.returncode == 44 and not overlay(tmp_path).exists()


def test_only_verified_https_addresses(tmp_path):
    r = _vos(tmp_path, "--update", "http://repo.example.org/vo-client.tar.gz")
    assert r.returncode == 44 and "http:// is not accepted" in r.stderr
    assert not overlay(tmp_path).exists()


def test_not_a_tarball_nor_a_layout(tmp_path):
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"\x1f\x8b" + b"junk" * 10)
    r = _vos(tmp_path, "--update", str(junk))
    assert r.returncode == 44 and "junk.tgz" in r.stderr
    r = _vos(tmp_path, "--update", str(tmp_path / "missing"))
    assert r.returncode == 44 and "neither a directory" in r.stderr


def test_vos_says_vomrs_is_retired(tmp_path):
    r = _vos(tmp_path)
    assert r.returncode == 0
    [osg] = [line for line in r.stdout.splitlines() if line.startswith("osg ")]
    assert "VOMRS: retired" in osg
    assert "VOMRS is retired upstream" in _vos(tmp_path, "osg").stdout
    assert "retired" not in _vos(tmp_path, "fermilab").stdout.split("you need")[0]


def test_the_shipped_entries_record_where_their_data_came_from():
    for entry in catalog.shipped(catalog.DATA).values():
        assert entry.data_from and entry.checked, entry.name
        assert entry.problems() == [], entry.name
    fnal = catalog.shipped(catalog.DATA)["fermilab"]
    assert {catalog.parse_vomses(v).host for v in fnal.vomses} == {"voms1.fnal.gov", "voms2.fnal.gov"}
    assert fnal.lsc["voms2.fnal.gov"] == [_dn("voms2.fnal.gov"), FNAL_CA]
