"""The state store: atomic writes, the lock, migration, refusal of newer schemas, corrupt files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onboard.errors import Exit, LockedError, StateError
from onboard.schema import SCHEMA_VERSION
from onboard.state import JourneyRecord
from onboard.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_new_records_carry_the_one_schema_version():
    assert JourneyRecord(vo="cms", workflow="voms-admin", state="obtain").schema_version == SCHEMA_VERSION


def test_round_trip_and_modes(tmp_path):
    store = Store(tmp_path / "state")
    rec = JourneyRecord(vo="cms", workflow="voms-admin", state="obtain")
    rec.artifacts.request_id = "42"
    store.save(rec)
    again = store.load("cms")
    assert again.artifacts.request_id == "42" and again.state == "obtain"
    assert stat.S_IMODE(os.stat(store.record_path("cms")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    assert not list((tmp_path / "state").glob(".*.tmp"))


def test_interrupted_writes_leave_old_or_new_record(tmp_path):
    """A writer killed at random moments: every read in between sees a whole record, old or new."""
    state = tmp_path / "state"
    writer = (
        "import sys\n"
        "from onboard.store import Store\n"
        "from onboard.state import JourneyRecord\n"
        "s = Store(__import__('pathlib').Path(sys.argv[1]))\n"
        "r = JourneyRecord(vo='cms', workflow='voms-admin', state='obtain')\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        "    r.artifacts.extra['n'] = i\n"
        "    r.artifacts.extra['pad'] = 'x' * (i % 5000)\n"
        "    s.save(r)\n"
    )
    seen = set()
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(state)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        path = state / "cms.json"
        start = len(seen)
        deadline = time.monotonic() + 20
        # read while it writes, until this writer has been seen at several versions
        while time.monotonic() < deadline and len(seen) < start + 5:
            if path.exists():
                data = json.loads(path.read_text())  # never a torn file
                seen.add((proc.pid, data["artifacts"]["extra"]["n"]))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        Store(state).load("cms")  # still loads after a kill
    assert len(seen) >= 40  # the reads really raced with the writes


def test_lock_refuses_second_holder_with_pid(tmp_path):
    store = Store(tmp_path / "state")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from onboard.store import Store\n"
         "l = Store(Path(sys.argv[1])).lock('cms').acquire(); print('locked', flush=True); time.sleep(30)",
         str(tmp_path / "state")], stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError) as err:
            store.lock("cms").acquire()
        assert f"in use by PID {holder.pid}" in err.value.message
        assert err.value.exit_code == Exit.LOCKED
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its process (even kill -9)
    with store.lock("cms"):
        pass


def test_migration_from_v1(tmp_path):
    store = Store(tmp_path / "state")
    store.root.mkdir(mode=0o700)
    v1 = {"schema_version": 1, "onboard_version": "0.0.1", "vo": "cms", "workflow": "voms-admin",
          "state": "enrol/vo/await_approval", "created": "2026-01-01T00:00:00+00:00",
          "updated": "2026-01-02T00:00:00+00:00", "next_check_after": "2026-01-02T01:00:00+00:00",
          "wait_reason": "VO approval"}
    store.record_path("cms").write_text(json.dumps(v1))
    rec = store.load("cms")
    assert rec.schema_version == SCHEMA_VERSION
    assert rec.waits["enrol/vo/await_approval"].what == "VO approval"
    assert rec.next_check_after.isoformat() == "2026-01-02T01:00:00+00:00"


def test_newer_schema_is_refused(tmp_path):
    store = Store(tmp_path / "state")
    store.root.mkdir(mode=0o700)
    store.record_path("cms").write_text(
        json.dumps({"schema_version": 99, "onboard_version": "9.0", "vo": "cms"})
    )
    with pytest.raises(StateError) as err:
        store.load("cms")
    assert "onboard 9.0" in err.value.message and "Upgrade onboard" in err.value.hint


@pytest.mark.parametrize("content", ["{", "[]", '{"schema_version": "x"}', '{"schema_version": 2, "vo": 3}'])
def test_corrupt_record(tmp_path, content):
    store = Store(tmp_path / "state")
    store.root.mkdir(mode=0o700)
    store.record_path("cms").write_text(content)
    with pytest.raises(StateError) as err:
        store.load("cms")
    assert "corrupt" in err.value.message or "schema_version" in err.value.message
    assert store.record_path("cms").read_text() == content  # left as it was


def test_history_is_append_only_lines(tmp_path):
    store = Store(tmp_path / "state")
    for i in range(3):
        store.append_history(
            "cms", **{"from": "a", "to": "b", "trigger": f"t{i}", "outcome": "ok", "error": None}
        )
    with open(store.history_path("cms"), "a") as f:
        f.write('{"torn": ')  # a line cut by power loss
    events = store.history("cms")
    assert [e["trigger"] for e in events] == ["t0", "t1", "t2"]
    assert all({"time", "from", "to", "trigger", "outcome", "error"} <= set(e) for e in events)


def test_bad_vo_name(tmp_path):
    from onboard.errors import UsageError

    with pytest.raises(UsageError):
        Store(tmp_path).record_path("../etc")
