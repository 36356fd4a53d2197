"""The registration states driven by the engine, as `onboard resume` runs them days apart: waits persisted
with a backoff, no network before the due time, rejection and expiry ending the journey with the reason."""

from __future__ import annotations

from onboard.sandbox import vomrs as vomrs_sandbox
from tests.lib.regkit import make_config, make_journey


def _vomrs(tmp_path, sandbox, user, clock, **mail):
    cfg = make_config(sandbox, kind="vomrs", registration={"representative": "Regional"}, **mail)
    return make_journey(tmp_path / "j", cfg, user, clock, "vomrs")


def test_waits_back_off_and_resume_before_due_does_no_network(tmp_path, sandbox, user, clock):
    j = _vomrs(tmp_path, sandbox, user, clock)
    res = j.run()  # register, confirm (the mail is there already), first approval check
    assert not res.finished and res.state == "await_approval"
    intervals = []
    for _ in range(8):
        wait = j.record.waits["await_approval"]
        intervals.append((wait.next_check_after - clock()).total_seconds())
        n = len(sandbox.requests)
        assert not j.run().finished  # before the due time: nothing asked
        assert len(sandbox.requests) == n
        clock.t = wait.next_check_after
        j.run()
        assert len(sandbox.requests) == n + 1  # exactly one request per due check
    assert intervals == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    # persisted: a new engine over the stored record sees the same due time
    j2 = make_journey(tmp_path / "j", j.ctx.config, user, clock, "vomrs")
    assert (
        j2.record.waits["await_approval"].next_check_after
        == j.record.waits["await_approval"].next_check_after
    )


def test_rejection_ends_the_journey_with_the_reason(tmp_path, sandbox, user, clock):
    j = _vomrs(tmp_path, sandbox, user, clock)
    j.run()
    [row] = vomrs_sandbox.pending(sandbox.ctx)
    vomrs_sandbox.deny(sandbox.ctx, row["id"], "no affiliation with the VO")
    clock.advance(3600)
    res = j.run()
    assert res.finished and res.state == "rejected"
    assert "no affiliation with the VO" in j.record.outcome
    assert "onboard start" in j.record.outcome  # what to do next
    saved = j.store.load("sandbox")
    assert saved.state == "rejected" and saved.outcome == j.record.outcome
    assert j.store.history("sandbox")[-1]["trigger"] == "rejected"


def test_unconfirmed_request_expires(tmp_path, sandbox, user, clock):
    j = _vomrs(tmp_path, sandbox, user, clock, mail={"kind": "none"})  # nobody opens the link
    res = j.run()
    assert res.state == "confirm_email" and not res.finished
    clock.advance(8 * 24 * 3600)  # past the sandbox's 7-day request lifetime
    res = j.run()
    assert res.finished and res.state == "expired"
    assert "not confirmed in time" in j.record.outcome
