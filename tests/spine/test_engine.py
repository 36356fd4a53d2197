"""The engine: persistence after every transition, reload in a new process, parallel regions, waits and
outcomes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from onboard.errors import CredentialError, Interrupted
from onboard.state import utcnow
from onboard.store import Store
from tests.spine.helpers import make_engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_dir(tmp_path, monkeypatch):
    d = tmp_path / "fake"
    d.mkdir()
    monkeypatch.setenv("FAKE_DIR", str(d))
    return d


def calls(fake_dir: Path) -> list[str]:
    log = fake_dir / "calls.log"
    return log.read_text().split() if log.exists() else []


def test_uninterrupted_run_reaches_done_through_both_regions(tmp_path, fake_dir):
    engine = make_engine(tmp_path / "state")
    result = engine.run()
    assert result.finished and result.state == "done"
    assert sorted(calls(fake_dir)) == sorted(
        ["obtain", "convert", "register", "confirm_email", "await_approval", "deliver", "verify"]
    )
    # verify runs only after both regions ended
    assert calls(fake_dir)[-1] == "verify"
    history = Store(tmp_path / "state").history("testvo")
    assert [e["trigger"] for e in history][-1] == "verified"


def test_record_is_saved_after_every_transition(tmp_path, fake_dir, monkeypatch):
    seen: list[str | list[str]] = []
    orig = Store.save

    def spy(self, record):
        orig(self, record)
        seen.append(json.loads(self.record_path(record.vo).read_text())["state"])

    monkeypatch.setattr(Store, "save", spy)
    make_engine(tmp_path / "state").run()
    flat = [s if isinstance(s, str) else tuple(s) for s in seen]
    assert "convert" in flat and "verify" in flat and flat[-1] == "done"
    assert ("enrol/vo/confirm_email", "enrol/host/deliver") in flat or \
        ("enrol/vo/confirm_email", "enrol/host/delivered") in flat


def test_delivery_does_not_wait_for_approval(tmp_path, fake_dir):
    (fake_dir / "await_approval.wait").write_text("3600")
    result = make_engine(tmp_path / "state").run()
    assert not result.finished
    assert "deliver" in calls(fake_dir)  # the host region went ahead
    assert sorted(result.state) == ["enrol/host/delivered", "enrol/vo/await_approval"]
    assert result.next_check_after is not None
    assert result.next_check_after - utcnow() > timedelta(minutes=59)


def test_wait_not_due_does_no_work(tmp_path, fake_dir):
    (fake_dir / "confirm_email.wait").write_text("600")
    make_engine(tmp_path / "state").run()
    before = calls(fake_dir)
    result = make_engine(tmp_path / "state").run()  # a resume before the due time
    assert calls(fake_dir) == before
    assert not result.finished and result.waiting_for == ["confirm_email outside"]
    # once due, the step runs again; the wait's check count grows
    later = make_engine(tmp_path / "state", now=lambda: utcnow() + timedelta(hours=1))
    later.run()
    assert calls(fake_dir).count("confirm_email") == 2
    assert Store(tmp_path / "state").load("testvo").waits["confirm_email"].checks == 2


def test_reload_in_new_process_continues_to_same_end(tmp_path, fake_dir):
    state = tmp_path / "state"
    env = {**os.environ, "FAKE_DIR": str(fake_dir), "PYTHONPATH": str(ROOT)}
    (fake_dir / "register.fail").write_text("")
    first = subprocess.run([sys.executable, "-m", "tests.spine.run_engine", str(state)], env=env,
                           capture_output=True, text=True, cwd=ROOT)
    assert first.returncode != 0 and "register failed on purpose" in first.stderr
    rec = Store(state).load("testvo")
    assert isinstance(rec.state, list) and "enrol/vo/register" in rec.state
    assert rec.last_error and rec.last_error.step == "register"
    (fake_dir / "register.fail").unlink()
    second = subprocess.run([sys.executable, "-m", "tests.spine.run_engine", str(state)], env=env,
                            capture_output=True, text=True, cwd=ROOT)
    assert second.stdout.strip().splitlines()[-1] == "finished done", second.stderr
    # each step ran once successfully; only the failed one twice; nothing repeated
    c = calls(fake_dir)
    assert (
        c.count("register") == 2
        and c.count("obtain") == 1
        and c.count("convert") == 1
        and c.count("verify") == 1
    )
    rec = Store(state).load("testvo")
    assert rec.last_error is None and rec.artifacts.extra["verify"] == "done"


def test_killed_process_leaves_previous_state(tmp_path, fake_dir):
    """SIGKILL in the middle of a step: the record holds the last state reached; resuming ends at done."""
    state = tmp_path / "state"
    env = {**os.environ, "FAKE_DIR": str(fake_dir), "PYTHONPATH": str(ROOT)}
    script = ("import os, signal\n"
              "from tests.spine import fake_steps\n"
              "orig = fake_steps.make\n"
              "def make(name):\n"
              "    f = orig(name)\n"
              "    def run(ctx):\n"
              "        if name == 'confirm_email': os.kill(os.getpid(), signal.SIGKILL)\n"
              "        f(ctx)\n"
              "    return run\n"
              "fake_steps.resolve = make\n"
              "import sys; from pathlib import Path\n"
              "from tests.spine.helpers import make_engine\n"
              "make_engine(Path(sys.argv[1])).run()\n")
    killed = subprocess.run([sys.executable, "-c", script, str(state)], env=env, cwd=ROOT)
    assert killed.returncode == -9
    rec = Store(state).load("testvo")
    assert "enrol/vo/confirm_email" in rec.states()
    result = make_engine(state).run()
    assert result.finished and result.state == "done"
    assert calls(fake_dir).count("register") == 1


def test_outcome_takes_the_named_transition(tmp_path, fake_dir):
    (fake_dir / "await_approval.outcome").write_text("rejected")
    result = make_engine(tmp_path / "state").run()
    assert result.finished and result.state == "rejected"
    rec = Store(tmp_path / "state").load("testvo")
    assert rec.outcome == "await_approval said so"
    assert "verify" not in calls(fake_dir)


def test_error_is_recorded_and_raised(tmp_path, fake_dir):
    (fake_dir / "obtain.fail").write_text("")
    with pytest.raises(CredentialError):
        make_engine(tmp_path / "state").run()
    rec = Store(tmp_path / "state").load("testvo")
    assert rec.state == "obtain" and rec.last_error.message == "obtain failed on purpose"
    assert Store(tmp_path / "state").history("testvo")[-1]["outcome"] == "error"


def test_ctrl_c_keeps_state(tmp_path, fake_dir, monkeypatch):
    from tests.spine import fake_steps

    def interrupting(name):
        def run(ctx):
            if name == "convert":
                raise KeyboardInterrupt
        return run

    engine = make_engine(tmp_path / "state")
    engine.resolve_step = interrupting
    with pytest.raises(Interrupted):
        engine.run()
    rec = Store(tmp_path / "state").load("testvo")
    assert rec.state == "convert"
    assert fake_steps  # the module stays importable for the next run
    assert make_engine(tmp_path / "state").run().finished


def test_failing_region_does_not_hold_up_the_other(tmp_path, fake_dir):
    (fake_dir / "register.fail").write_text("")
    with pytest.raises(CredentialError):
        make_engine(tmp_path / "state").run()
    rec = Store(tmp_path / "state").load("testvo")
    assert sorted(rec.states()) == ["enrol/host/delivered", "enrol/vo/register"]
    assert calls(fake_dir).count("register") == 1  # not retried within the same run
