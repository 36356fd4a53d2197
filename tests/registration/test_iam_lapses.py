"""The second year with IAM: the VOMS-AA answers the member's own certificate, so `onboard check` learns of
a suspended account or a lapsed AUP signature in IAM's own words (indigo-iam/iam iam-voms-aa), mapped to
the cause and whom to ask — against the sandbox's IAM, whose instructor sets the lapse."""

from __future__ import annotations

from onboard import registration
from onboard.lapse import membership
from onboard.registration import flow
from onboard.sandbox import iam as iam_sandbox
from onboard.sandbox.iam import lapses as iam_lapses
from onboard.state import utcnow
from onboard.steps import await_approval, confirm_email, link_certificate, register
from tests.lib.regkit import VO, make_config, make_ctx, make_record


def _member(sandbox, user, clock):
    ctx = make_ctx(make_config(sandbox, kind="iam"), make_record(user, workflow="iam"), user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    iam_sandbox.approve(sandbox.ctx, ctx.record.artifacts.request_id)
    await_approval.run(ctx)
    name = flow.extra(ctx)["iam_username"]
    iam_sandbox.link_certificate(sandbox.ctx, VO, name, user.subject, user.issuer)
    link_certificate.run(ctx)
    return ctx, name


def _items(ctx):
    return {i.what: i for i in membership.check(ctx, registration.get("iam"), utcnow(), 30)}


def test_iam_suspension_and_aup_in_the_vomsaa_s_own_words(sandbox, user, clock):
    ctx, name = _member(sandbox, user, clock)
    items = _items(ctx)
    assert items[f"membership of {VO}"].state == "ok"
    assert items[f"AUP of {VO}"].state == "info"  # IAM does not show when the signature lapses
    iam_lapses.suspend(sandbox.ctx, VO, name)
    item = _items(ctx)[f"membership of {VO}"]
    assert item.state == "lapsed" and "is not active" in item.detail
    assert "secretariat" in item.todo  # at CERN the account follows the HR record
    iam_lapses.restore(sandbox.ctx, VO, name)
    iam_lapses.aup_lapsed(sandbox.ctx, VO, name)
    item = _items(ctx)[f"membership of {VO}"]
    assert item.state == "lapsed" and f"User {name} needs to sign AUP for this organization" in item.detail
    assert "IAM dashboard" in item.todo
    iam_lapses.aup_lapsed(sandbox.ctx, VO, name, lapsed=False)
    assert _items(ctx)[f"membership of {VO}"].state == "ok"


def test_the_instructor_sets_the_iam_lapse_from_the_command_line(sandbox, user, clock, capsys):
    from onboard import cli
    from onboard.errors import Exit

    ctx, name = _member(sandbox, user, clock)
    sandbox.ctx.settings.save(sandbox.ctx.dir / "sandbox.json")
    d = str(sandbox.ctx.dir)
    assert cli.main(["sandbox", "iam-suspend", "--dir", d, VO, name]) == 0
    assert "not active" in _items(ctx)[f"membership of {VO}"].detail
    assert cli.main(["sandbox", "iam-restore", "--dir", d, VO, name]) == 0
    assert cli.main(["sandbox", "iam-aup-lapse", "--dir", d, VO, name]) == 0
    assert "needs to sign AUP" in _items(ctx)[f"membership of {VO}"].detail
    assert cli.main(["sandbox", "iam-aup-lapse", "--dir", d, VO, name, "--signed"]) == 0
    assert _items(ctx)[f"membership of {VO}"].state == "ok"
    assert cli.main(["sandbox", "iam-suspend", "--dir", d, VO, "nobody"]) == Exit.SANDBOX
    assert "no IAM account nobody" in capsys.readouterr().err
