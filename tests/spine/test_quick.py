"""The fast answers (onboard.quick): the same as the full parser's, and only for lines they understand."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from onboard import arguments, paths, quick
from onboard.commands import COMMANDS, GLOBAL_OPTIONS
from onboard.errors import Exit, UsageError
from onboard.state import JourneyRecord, Wait, utcnow
from onboard.store import Store, check_vo_name


@pytest.fixture
def waiting_journey(onboard_env):
    now = utcnow()
    rec = JourneyRecord(vo="cms", workflow="voms-admin",
                        state=["enrol/vo/await_approval", "enrol/host/deliver"])
    rec.completed = {"obtain": now, "convert": now, "register": now, "confirm_email": now}
    rec.waits["await_approval"] = Wait(what="approval of request 4", since=now,
                                       next_check_after=now + timedelta(minutes=30))
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(rec)
    return rec


def _full_parser(argv: list[str]) -> int:
    args = arguments.parse(argv)
    return args._module.run(args)


@pytest.mark.parametrize("argv", [
    ["status"], ["status", "--json"], ["status", "--vo", "cms"], ["status", "--vo=cms", "--json"],
    ["--debug", "-q", "--config", "x.toml", "status", "--json", "--vo", "cms"], ["--config=x.toml", "status"],
])
def test_status_answers_like_the_full_parser(waiting_journey, capsys, argv):
    assert quick.answer(argv) == Exit.OK
    fast = capsys.readouterr()
    assert _full_parser(argv) == Exit.OK
    full = capsys.readouterr()
    assert fast.out == full.out and fast.err == full.err == ""
    assert "approval of request 4" in fast.out


def test_status_errors_are_the_same_errors(onboard_env):
    for vo in ("atlas", "../etc"):
        with pytest.raises(Exception) as fast:
            quick.answer(["status", "--vo", vo])
        with pytest.raises(Exception) as full:
            _full_parser(["status", "--vo", vo])
        assert type(fast.value) is type(full.value) and str(fast.value) == str(full.value)


@pytest.mark.parametrize("argv", [
    ["status", "--js"],  # an abbreviation argparse accepts
    ["status", "--vo"], ["status", "--vo", "--json"], ["status", "--bogus"], ["status", "-h"],
    ["status", "--json", "--json"], ["status", "--vo", "a", "--vo", "b"], ["status", "cms"],
    ["--config"], ["--bogus", "status"], ["resume"], ["history", "--json"], ["nosuchcommand"],
    ["--", "status"],
])
def test_lines_it_does_not_understand_go_to_the_full_parser(onboard_env, capsys, argv):
    assert quick.answer(argv) is None
    assert capsys.readouterr().out == ""


def test_the_full_parser_reports_what_quick_leaves(onboard_env, waiting_journey, capsys):
    assert _full_parser(["status", "--js"]) == Exit.OK  # argparse's abbreviation still works
    assert '"vo": "cms"' in capsys.readouterr().out
    for argv, says in ((["status", "--vo"], "expected one argument"), (["status", "--bogus"], "--bogus"),
                       (["nosuchcommand"], "invalid choice")):
        with pytest.raises(UsageError, match=says) as e:
            arguments.parse(argv)
        assert e.value.exit_code == Exit.USAGE


def test_one_top_level_help(capsys):
    assert quick.answer(["--help"]) == Exit.OK
    text = capsys.readouterr().out
    for name, (_, help_text) in COMMANDS.items():
        assert f"  {name:<16}{help_text}" in text
    for flags, metavar, _ in GLOBAL_OPTIONS:
        assert ", ".join(flags) + (f" {metavar}" if metavar else "") in text
    assert arguments.build_parser(["--bogus"]).format_help() == text
    assert quick.answer([]) == Exit.USAGE and capsys.readouterr().out == text  # no command: help, exit 2


def test_every_global_option_of_the_help_is_accepted(waiting_journey, capsys):
    # the help's options come from the table the full parser is built from; each one works before a command
    args = arguments.parse(["--debug", "-q", "--config", "c.toml", "history", "--json"])
    assert (args.debug, args.quiet, args.config, args.command) == (True, True, "c.toml", "history")
    with pytest.raises(SystemExit) as e:
        arguments.parse(["--version"])
    assert e.value.code == 0


def test_version(capsys):
    from onboard import __version__

    assert quick.answer(["--debug", "--version"]) == Exit.OK
    assert capsys.readouterr().out == f"onboard {__version__}\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rules are applied by hand on Linux")
@pytest.mark.parametrize("xdg", [None, "", "relative/dir", "/abs/xdg"])
@pytest.mark.parametrize("kind", ["config", "state", "data"])
def test_directories_are_the_ones_platformdirs_gives(monkeypatch, tmp_path, kind, xdg):
    import platformdirs

    var = {"config": "XDG_CONFIG_HOME", "state": "XDG_STATE_HOME", "data": "XDG_DATA_HOME"}[kind]
    for name in ("ONBOARD_STATE_DIR", "ONBOARD_DATA_DIR", var):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is not None:
        monkeypatch.setenv(var, xdg)
    assert paths.locate(kind) == getattr(platformdirs, f"user_{kind}_dir")("onboard", appauthor=False)


def test_overrides_win(monkeypatch, tmp_path):
    monkeypatch.setenv("ONBOARD_STATE_DIR", "~/elsewhere")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.state_dir() == tmp_path / "elsewhere"
    assert os.fspath(paths.state_dir()) == paths.locate("state")


@pytest.mark.parametrize("name", ["cms", "dteam", "vo.example.org", "a", "ATLAS_2-x", "x" * 64])
def test_vo_names_accepted(name):
    assert check_vo_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "_x", "../etc", "a/b", "cms\n", "x" * 65, "é", "a b"])
def test_vo_names_refused(name):
    with pytest.raises(UsageError, match="not a valid VO name"):
        check_vo_name(name)
