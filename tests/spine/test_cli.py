"""The CLI as a user runs it (a subprocess), and the single layer that maps errors to exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onboard import cli, errors
from onboard.commands import COMMANDS
from onboard.errors import Exit

ROOT = Path(__file__).resolve().parents[2]


# -- the error mapping: every error class, one line + one hint, its own exit code, no traceback ----------

def _raise_from_command(monkeypatch, exc: BaseException):
    class Cmd:
        @staticmethod
        def add_arguments(name, p):
            pass

        @staticmethod
        def run(args):
            raise exc

    monkeypatch.setitem(sys.modules, "onboard.commands.boom", Cmd)
    monkeypatch.setitem(COMMANDS, "boom", ("boom", "raise"))


@pytest.mark.parametrize("exc,code", [
    (errors.UsageError("bad flag"), Exit.USAGE),
    (errors.ConfigError("bad key"), Exit.CONFIG),
    (errors.StateError("torn"), Exit.STATE),
    (errors.LockedError("in use by PID 1"), Exit.LOCKED),
    (errors.NotImplementedStep("deliver"), Exit.NOT_IMPLEMENTED),
    (errors.WorkflowError("bad workflow"), Exit.WORKFLOW),
    (errors.CredentialError("wrong passphrase", exit_code=Exit.WRONG_PASSPHRASE), Exit.WRONG_PASSPHRASE),
    (errors.RegistrationError("500"), Exit.SERVER),
    (errors.MailError("no mail"), Exit.MAIL),
    (errors.SSHError("remote failed"), Exit.REMOTE),
    (errors.Waiting("approval", None), Exit.WAITING),
    (errors.MissingInput("the passphrase", flag="--passphrase-file"), Exit.USAGE),
    (errors.OnboardError("generic"), Exit.ERROR),
    (KeyboardInterrupt(), Exit.INTERRUPTED),
    (RuntimeError("a bug"), Exit.ERROR),
])
def test_error_mapping(monkeypatch, capsys, exc, code):
    _raise_from_command(monkeypatch, exc)
    assert cli.main(["boom"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2, err
    assert lines[1].startswith("hint:")


def test_an_internal_error_never_quotes_its_exception_text(monkeypatch, capsys):
    """Reproduced: `internal error: UnicodeEncodeError: 'ascii' codec can't encode character '\\xe4' in
    position 2` told a letter of an IMAP password and where it stands. Only the kind and the place now."""
    try:
        "pä$$word".encode("ascii")
    except UnicodeEncodeError as e:
        bug = e
    _raise_from_command(monkeypatch, bug)
    assert cli.main(["boom"]) == Exit.ERROR
    err = capsys.readouterr().err
    assert "internal error: UnicodeEncodeError in " in err
    assert "\\xe4" not in err and "position" not in err and "ä" not in err


def test_exit_codes_are_distinct():
    codes = {name: value for name, value in vars(Exit).items() if name.isupper()}
    assert len(codes) > 30 and all(isinstance(v, int) and 0 <= v < 256 for v in codes.values())
    assert len(set(codes.values())) == len(codes)


def test_debug_shows_traceback(monkeypatch, capsys):
    _raise_from_command(monkeypatch, errors.ConfigError("bad key"))
    assert cli.main(["--debug", "boom"]) == Exit.CONFIG
    assert "Traceback" in capsys.readouterr().err


def test_missing_input_names_the_flag():
    e = errors.MissingInput("The passphrase", flag="--passphrase-file", key="credentials.passphrase_command")
    assert "--passphrase-file" in e.hint and "credentials.passphrase_command" in e.hint


# -- the commands, as a user runs them ----------------------------------------------------------------

def test_version_and_help(cli):
    from onboard import __version__

    assert cli("--version").stdout.strip() == f"onboard {__version__}"
    res = cli("--help")
    assert res.returncode == 0
    for command in ("start", "resume", "status", "history", "reset"):
        assert command in res.stdout


def test_usage_error(cli):
    res = cli("start")
    assert res.returncode == Exit.USAGE
    assert "--vo" in res.stderr and "Traceback" not in res.stderr


def test_status_without_journey(cli):
    res = cli("status")
    assert res.returncode == Exit.STATE
    assert "onboard start --vo" in res.stderr


def test_start_status_history_reset(cli, onboard_env, tmp_path):
    res = cli("start", "--vo", "testvo", "--workflow", "voms-admin")
    # the first step waits for the person at the CA portal, or is not built yet: never a fake success
    assert res.returncode in (Exit.WAITING, Exit.NOT_IMPLEMENTED, Exit.USAGE, Exit.CONFIG), res.stderr
    assert "Traceback" not in res.stderr
    again = cli("start", "--vo", "testvo")
    assert again.returncode == Exit.STATE and "exists already" in again.stderr

    st = cli("status", "--json")
    assert st.returncode == 0
    data = json.loads(st.stdout)
    assert data["vo"] == "testvo" and data["state"] == "obtain"
    assert [r["status"] for r in data["checklist"]][:2] in (["current", "next"], ["waiting", "next"])
    text = cli("status").stdout
    assert "Journey for VO testvo" in text and "Run voms-proxy-init" in text

    hist = cli("history", "--json")
    events = json.loads(hist.stdout)
    assert events[0]["trigger"] == "start" and events[0]["to"] == "obtain"

    no_tty = cli("reset")
    assert no_tty.returncode == Exit.USAGE and "--yes" in no_tty.stderr
    assert cli("status").returncode == 0  # nothing changed
    done = cli("reset", "--yes")
    assert done.returncode == 0
    assert cli("status").returncode == Exit.STATE
    assert any(e["trigger"] == "reset" for e in json.loads(cli("history", "--vo", "testvo", "--json").stdout))


def test_second_resume_is_locked(cli, onboard_env):
    cli("start", "--vo", "testvo", "--workflow", "voms-admin")  # testvo is in no catalog
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys,time; from onboard import app\n"
         "app.store().lock('testvo').acquire(); print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, **onboard_env})
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = cli("resume", "--vo", "testvo")
        assert res.returncode == Exit.LOCKED
        assert f"in use by PID {holder.pid}" in res.stderr
    finally:
        holder.kill()
        holder.wait()


def test_state_from_the_future(cli, onboard_env):
    state = Path(onboard_env["ONBOARD_STATE_DIR"])
    state.mkdir(mode=0o700)
    (state / "cms.json").write_text(json.dumps({"schema_version": 7, "onboard_version": "3.0", "vo": "cms"}))
    for cmd in (("status",), ("resume",)):
        res = cli(*cmd)
        assert res.returncode == Exit.STATE, res.stderr
        assert "onboard 3.0" in res.stderr and "Upgrade" in res.stderr
    assert json.loads((state / "cms.json").read_text())["schema_version"] == 7


def test_bad_config_file(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[user]\nemail = 'nope'\n")
    res = cli("--config", str(bad), "start", "--vo", "cms")
    assert res.returncode == Exit.CONFIG
    assert str(bad) in res.stderr and "user.email" in res.stderr


# -- fast start ------------------------------------------------------------------------------------------

HEAVY = ("paramiko", "requests", "cryptography", "pydantic", "transitions", "platformdirs",
         # what the fast answers leave out to start in at most twice `python3 -c pass` (bench/startup)
         "argparse", "pathlib", "tomllib")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["status"], ["status", "--json"], []])
def test_fast_commands_import_nothing_heavy(onboard_env, argv):
    probe = ("import sys, json\nfrom onboard import cli\n"
             f"try:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    # give status a journey to show
    from onboard.state import JourneyRecord
    from onboard.store import Store

    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(
        JourneyRecord(vo="cms", workflow="voms-admin", state="obtain")
    )
    for _ in range(2):  # the first status also caches the parsed workflow (TOML, pathlib); measure the next
        res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             env={**os.environ, **onboard_env}, cwd=ROOT)
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [], res.stdout + res.stderr


def test_messages_stay_one_line_whatever_they_quote():
    e = errors.CredentialError("key does not belong to /DC=o\ng/CN=Jane\x1b[31m", "check\rthe file")
    assert e.message == "key does not belong to /DC=o\\ng/CN=Jane\\x1b[31m"
    assert e.hint == "check\\rthe file"
    assert errors.OnboardError("José Pérez").message == "José Pérez"  # printable non-ASCII is kept
