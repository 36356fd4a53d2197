"""The second year in the sandbox's VOMS-Admin: end dates, AUP re-sign tasks and suspensions, set by the
instructor or come due, shown by apiv2/user-info as VOMSUserJSON shapes them (italiangrid/voms-admin-server:
VOMSUserJSON, AUPAcceptanceRecordJSON, SignAUPTaskJSON; excludeNullProperties)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from onboard.errors import SandboxError
from onboard.sandbox.voms_admin import lapses

from .conftest import VO

pytestmark = pytest.mark.servers


def _member(trainee, sandbox) -> int:
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    return sandbox.approve(sandbox.requests()[0]["request_id"])["user_id"]


def _at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def test_a_new_member_has_a_year_and_a_valid_aup(trainee, sandbox, clock):
    _member(trainee, sandbox)
    info = trainee.user_info().json()
    assert _at(info["endTime"]) - _at(info["creationTime"]) == 365 * 86400
    (aup,) = info["aupAcceptanceRecords"]
    assert aup["valid"] is True and aup["daysBeforeExpiration"] in (364, 365)
    assert "pendingSignAUPTask" not in info and "suspensionReasonCode" not in info  # null: left out


def test_aup_resign_task_then_suspension_when_overdue_and_signing_restores(trainee, sandbox, clock):
    uid = _member(trainee, sandbox)
    due = lapses.request_aup_signature(sandbox.ctx, uid, days=15)
    info = trainee.user_info().json()
    task = info["pendingSignAUPTask"]
    assert _at(task["expirationDate"]) == int(due) and _at(task["creationDate"]) == int(clock.timestamp())
    assert info["aupAcceptanceRecords"][0] == {**info["aupAcceptanceRecords"][0], "valid": False,
                                               "daysBeforeExpiration": 0}
    subject = f"Request to sign VO {VO} acceptable usage policy (AUP)."  # SignAUPMessage
    mail = [m for m in trainee.mails() if m["Subject"] == subject]
    assert len(mail) == 1 and f"/voms/{VO}/sign-aup" in mail[0].get_content()
    clock.advance(14 * 86400)
    sandbox.tick()
    assert trainee.user_info().json()["suspended"] is False  # not yet due
    clock.advance(2 * 86400)
    sandbox.tick()
    info = trainee.user_info().json()
    assert info["suspended"] is True and info["suspensionReasonCode"] == "FAILED_TO_SIGN_AUP"
    assert info["suspensionReason"] == "User failed to sign the AUP in time."
    assert info["certificates"][0]["suspended"] is True  # VOMSUser.suspend: each certificate too
    assert "pendingSignAUPTask" not in info  # the task expired
    lapses.sign_aup(sandbox.ctx, uid)
    info = trainee.user_info().json()
    assert info["suspended"] is False and info["certificates"][0]["suspended"] is False
    assert info["aupAcceptanceRecords"][0]["valid"] is True


def test_an_ended_membership_is_suspended_after_the_grace_period(trainee, sandbox, clock):
    uid = _member(trainee, sandbox)
    lapses.set_end_time(sandbox.ctx, uid, clock.timestamp() - 6 * 86400)
    sandbox.tick()
    assert trainee.user_info().json()["suspended"] is False  # within VOMS-Admin's 7 days of grace
    clock.advance(2 * 86400)
    sandbox.tick()
    info = trainee.user_info().json()
    assert info["suspended"] is True and info["suspensionReasonCode"] == "MEMBERSHIP_EXPIRATION"
    lapses.restore(sandbox.ctx, uid)
    assert trainee.user_info().json()["suspended"] is False


def test_a_year_after_signing_the_aup_comes_due_by_itself(trainee, sandbox, clock):
    _member(trainee, sandbox)
    clock.advance(366 * 86400)
    sandbox.tick()
    info = trainee.user_info().json()
    assert "pendingSignAUPTask" in info and info["suspended"] is False


def test_unknown_member_and_reason_are_refused(sandbox):
    with pytest.raises(SandboxError, match="no member 99"):
        lapses.suspend(sandbox.ctx, 99)
    with pytest.raises(SandboxError, match="no suspension reason"):
        lapses.suspend(sandbox.ctx, 1, "BORED")


def test_the_member_signs_again_on_the_mails_page_and_is_restored(trainee, sandbox, clock):
    from .conftest import token_of

    uid = _member(trainee, sandbox)
    lapses.request_aup_signature(sandbox.ctx, uid, days=1)
    clock.advance(2 * 86400)
    sandbox.tick()
    assert trainee.user_info().json()["suspended"] is True
    link = next(m for m in trainee.mails() if m["Subject"].startswith("Request to sign")).get_content()
    url = next(w for w in link.split() if w.endswith("/sign-aup"))
    assert url == sandbox.registration_url(VO) + "/sign-aup"  # the mail's link works as it stands
    form = trainee.session.get(url, timeout=30)
    assert "I declare I have read and agree with the AUP terms" in form.text
    token = token_of(form.text)
    refused = trainee.post(VO, "aup/sign.action", {"struts.token.name": "token", "token": token})
    assert "You have to accept the terms of the AUP to proceed!" in refused.text
    assert trainee.user_info().json()["suspended"] is True
    done = trainee.post(VO, "aup/sign.action", {"struts.token.name": "token", "token": token_of(refused.text),
                                                "aupAccepted": "true"}, allow_redirects=False)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/voms/{VO}/home/login.action")
    info = trainee.user_info().json()
    assert info["suspended"] is False and info["aupAcceptanceRecords"][0]["valid"] is True
    assert "pendingSignAUPTask" not in info
