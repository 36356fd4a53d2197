"""Planted links and unsafe directories where onboard keeps its state and private files (hardening, round 2).

Each test reproduces a finding on the old code: a symlinked lock was truncated, a symlinked history appended
to, parents made 0777 under umask 000, and a directory of another owner or with group/other write used.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from onboard.errors import Exit, UnsafePathError
from onboard.paths import ensure_private_dir
from onboard.store import Store


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return victim


def test_planted_lock_link_is_refused_and_target_untouched(tmp_path):
    state = tmp_path / "state"
    store = Store(state)
    store._ensure_root()
    victim = _victim(tmp_path)
    (state / "cms.lock").symlink_to(victim)
    with pytest.raises(UnsafePathError) as e:
        store.lock("cms").acquire()
    assert "symbolic link" in e.value.message and e.value.exit_code == Exit.UNSAFE_PATH
    assert victim.read_text() == "precious\n"


def test_planted_history_link_is_refused_and_target_untouched(tmp_path):
    state = tmp_path / "state"
    store = Store(state)
    store._ensure_root()
    victim = _victim(tmp_path)
    (state / "cms.history.jsonl").symlink_to(victim)
    with pytest.raises(UnsafePathError):
        store.append_history("cms", trigger="start")
    with pytest.raises(UnsafePathError):
        store.history("cms")
    assert victim.read_text() == "precious\n"


def test_parents_are_private_under_umask_000(tmp_path):
    target = tmp_path / "a" / "b" / "onboard"
    old = os.umask(0)
    try:
        ensure_private_dir(target)
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_group_or_other_writable_directory_is_refused(tmp_path, mode):
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, mode)
    with pytest.raises(UnsafePathError) as e:
        Store(state).append_history("cms", trigger="start")
    assert "group or others" in e.value.message
    assert not (state / "cms.history.jsonl").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_directory_of_another_owner_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    with pytest.raises(UnsafePathError) as e:
        ensure_private_dir(state)
    assert "another user" in e.value.message


def test_cli_refuses_a_world_writable_state_dir(cli, onboard_env):
    state = onboard_env["ONBOARD_STATE_DIR"]
    os.mkdir(state)
    os.chmod(state, 0o777)
    res = cli("start", "--vo", "testvo", "--workflow", "voms-admin")
    assert res.returncode == Exit.UNSAFE_PATH, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and "Traceback" not in res.stderr
    assert os.listdir(state) == []


def test_status_still_reads_without_writing(tmp_path):
    """Reading a journey (status) never creates or checks directories: start-up stays as fast."""
    code = "import onboard.store, sys; print('onboard.paths' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
