"""Verification puts right what changed on the submit host since an earlier run's delivery, and does not
look a second time at what the same run has just delivered (a room of a hundred pays for every look).
Real sshd and voms-server; onboard in this process, to count how often the package is opened."""

from __future__ import annotations

import pytest

from onboard import cli
from onboard.delivery import local
from onboard.state import JourneyRecord
from onboard.store import Store

from .test_cli_resume import _setup

pytestmark = pytest.mark.slow


def _resume(cfg, pw, sshd, monkeypatch, capsys) -> tuple[int, list[str], str]:
    opened: list[str] = []
    real = local.load_package

    def counting(path, passphrase):
        opened.append(str(path))
        return real(path, passphrase)

    monkeypatch.setattr(local, "load_package", counting)
    code = cli.main(["--config", str(cfg), "resume", "--vo", "testvo", "--passphrase-file", str(pw),
                     "--trust-host-key", sshd.fingerprint])
    out = capsys.readouterr()
    return code, opened, out.out + out.err


def test_same_run_verification_opens_the_package_once_a_later_run_puts_right_what_changed(
    tmp_path, onboard_env, sshd, client_key, package, pki, voms_server, monkeypatch, capsys
):
    cfg, pw = _setup(tmp_path, onboard_env, sshd, client_key, package, pki, voms_server)
    code, opened, text = _resume(cfg, pw, sshd, monkeypatch, capsys)
    assert code == 0, text
    assert opened == [str(package)]  # the deliver step's; verify trusts what that run has just checked
    assert "put right" not in text

    # days later: the key is gone from the host, and the journey is back at verification
    (sshd.home / ".globus" / "userkey.pem").unlink()
    st = Store(tmp_path / "state")
    done = st.load("testvo")
    again = JourneyRecord(vo="testvo", workflow="voms-admin",
                          state=["enrol/vo/approved", "enrol/host/delivered"], artifacts=done.artifacts)
    st.save(again)
    code, opened, text = _resume(cfg, pw, sshd, monkeypatch, capsys)
    assert code == 0, text
    assert opened == [str(package)]  # verification's own look, in a run that delivered nothing
    assert "put right" in text and "userkey.pem" in text
    assert (sshd.home / ".globus" / "userkey.pem").exists()
