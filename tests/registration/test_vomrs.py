"""VOMRS: Phase I form + mailed link, Phase II (AUP, representative, groups), approval and denial seen on
the member page — against the sandbox's VOMRS emulation."""

from __future__ import annotations

import pytest

from onboard.errors import Outcome, Waiting
from onboard.registration import flow
from onboard.sandbox import vomrs as vomrs_sandbox
from onboard.steps import await_approval, confirm_email, register
from tests.lib.regkit import make_config, make_ctx, make_record


def _ctx(sandbox, user, clock, **reg):
    cfg = make_config(
        sandbox, kind="vomrs", registration={"representative": "Regional", "groups": ["analysis"], **reg}
    )
    return make_ctx(cfg, make_record(user, workflow="vomrs"), user, clock)


def test_vomrs_two_phases_then_approval(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    assert flow.extra(ctx)["registration"] == "submitted"
    assert sandbox.count("POST", "/register") == 1
    register.run(ctx)
    assert sandbox.count("POST", "/register") == 1  # never twice

    confirm_email.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed"
    [row] = vomrs_sandbox.pending(sandbox.ctx)
    assert row["phase"] == "applicant" and row["representative"].startswith("Regional")
    assert row["groups"] == "/sandbox/analysis"
    assert str(row["id"]) == ctx.record.artifacts.request_id

    n = len(sandbox.requests)
    with pytest.raises(Waiting):
        await_approval.run(ctx)
    assert len(sandbox.requests) == n + 1  # one request per check
    vomrs_sandbox.approve(sandbox.ctx, row["id"])
    await_approval.run(ctx)
    assert flow.extra(ctx)["registration"] == "member"


def test_vomrs_denial_ends_with_reason(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    [row] = vomrs_sandbox.pending(sandbox.ctx)
    vomrs_sandbox.deny(sandbox.ctx, row["id"], "unknown institution")
    with pytest.raises(Outcome) as o:
        await_approval.run(ctx)
    assert o.value.trigger == "rejected" and "unknown institution" in o.value.reason


def test_vomrs_phase2_without_a_representative_says_which_key(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock, representative="")
    register.run(ctx)
    from onboard.registration.voms_admin import FormError

    with pytest.raises(FormError) as e:
        confirm_email.run(ctx)
    assert "registration.representative" in e.value.hint
