"""Configuration: the example loads, env overrides, and bad files give errors naming file, key and
expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from onboard import config
from onboard.errors import ConfigError, Exit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


def test_example_loads_and_documents_every_key():
    cfg = config.load(EXAMPLE, environ={})
    assert cfg.vo == "cms" and cfg.user.email == "jane.doe@example.org"
    text = EXAMPLE.read_text()
    # every key of every section appears in the example, set or commented
    for section_name, section in config.Config.model_fields.items():
        if section_name in ("source", "vos"):
            continue
        model = section.annotation
        if hasattr(model, "model_fields"):
            assert f"[{section_name}]" in text
            for key in model.model_fields:
                assert f"{key} =" in text or f"# {key} =" in text, f"{section_name}.{key} undocumented"
        else:
            assert f"{section_name} =" in text
    for key in config.VOEntry.model_fields:
        assert f"# {key} =" in text, f"vos.*.{key} undocumented"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text,expect",
    [
        ("[user]\nemial = 'x@y'\n", "key 'user.emial': no such key"),
        ("[user]\nemail = 'not-an-address'\n", "key 'user.email': an e-mail address like jane@example.org"),
        (
            "[credentials]\nname_format = 'fancy'\n",
            "key 'credentials.name_format': one of 'dated', 'cn' or 'plain'",
        ),
        ("[mail]\nport = 70000\n", "key 'mail.port'"),
        ("[user\n", "not valid TOML"),
        ("colour = 'blue'\n", "key 'colour': no such key"),
        (
            "[vos.cms]\nvomses = ['\"cms\" \"h.example.org\" \"15002\" \"/CN=h \"cms\"']\n",
            "key 'vos.cms.vomses': vomses line 1: every field must be in double quotes",
        ),
        (
            "[vos.cms]\nvomses = ['\"cms\" \"h.example.org\" \"99999\" \"/CN=h\" \"cms\"']\n",
            "key 'vos.cms.vomses': vomses line 1: port '99999' is not a port number",
        ),
        (
            "[vos.cms.lsc]\n'h.example.org' = ['/CN=h']\n",
            "key 'vos.cms.lsc': LSC of h.example.org: an LSC needs",
        ),
    ],
)
def test_bad_files(tmp_path, text, expect):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        config.load(path, environ={})
    assert str(path) in err.value.message
    assert expect in err.value.message
    assert err.value.exit_code == Exit.CONFIG


def test_env_overrides(tmp_path):
    path = write(tmp_path, "[user]\nemail = 'a@b.org'\n")
    cfg = config.load(path, environ={"ONBOARD_USER__EMAIL": "c@d.org", "ONBOARD_VO": "atlas",
                                     "ONBOARD_REGISTRATION__POLL_MIN_SECONDS": "5"})
    assert cfg.user.email == "c@d.org" and cfg.vo == "atlas" and cfg.registration.poll_min_seconds == 5


def test_bad_env_value_names_the_variable(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as err:
        config.load(path, environ={"ONBOARD_MAIL__PORT": "many"})
    assert "ONBOARD_MAIL__PORT" in err.value.message


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        config.load(tmp_path / "nope.toml", environ={})


def test_no_file_is_defaults(tmp_path):
    cfg = config.load(None, environ={"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.credentials.dir == Path("~/.globus") and cfg.source is None


def test_secrets_are_not_config_values():
    fields = {
        f"{s}.{k}"
        for s, sec in config.Config.model_fields.items()
        if hasattr(sec.annotation, "model_fields")
        for k in sec.annotation.model_fields
    }
    assert not {f for f in fields if f.endswith(("password", "passphrase", "token"))}


def test_onboards_own_switches_are_not_config(tmp_path):
    path = write(tmp_path, "")
    cfg = config.load(path, environ={"ONBOARD_NO_BROWSER": "1", "ONBOARD_DN": "/CN=x",
                                     "ONBOARD_STATE_DIR": "/tmp", "ONBOARD_VO": "dteam"})
    assert cfg.vo == "dteam"
    with pytest.raises(ConfigError, match="usr"):
        config.load(path, environ={"ONBOARD_USR__EMAIL": "a@b.org"})  # a misspelt section is an error
