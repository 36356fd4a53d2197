"""IAM's username rule (UsernameValidator.java) and the username onboard derives or asks for."""

from __future__ import annotations

import pytest

from onboard.errors import MissingInput
from onboard.registration import iam_username
from onboard.registration.iam import username_for
from onboard.registration.voms_admin import FormError


@pytest.mark.parametrize(
    ("email", "derived"),
    [
        ("Jane.Doe@example.org", "jane.doe"),
        ("jane+grid@example.org", "janegrid"),
        ("J_Doe-2@example.org", "j_doe-2"),
        ("2jane@example.org", "jane"),  # a digit may not come first
        ("x" * 40 + "@example.org", "x" * 32),
        ("1234@example.org", ""),  # nothing valid is left: onboard asks
        ("Élodie@example.org", "elodie"),
    ],
)
def test_derive(email, derived):
    assert iam_username.derive(email) == derived
    assert derived == "" or iam_username.valid(derived)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("jane", True), ("_svc", True), ("j", True), ("jane$", True), ("jane@cern", True),
     ("Jane", False), ("1jane", False), ("jane doe", False), ("j" * 33, False), ("", False)],
)
def test_the_rule(name, ok):
    assert iam_username.valid(name) is ok


class _Ui:
    def __init__(self, answer: str | None):
        self.answer = answer
        self.asked: list[str] = []

    def ask(self, prompt, *, key=None, **kw):
        self.asked.append(key)
        if self.answer is None:
            raise MissingInput(prompt, key=key)
        return self.answer


class _Ctx:
    def __init__(self, email: str, username: str = "", answer: str | None = None):
        from types import SimpleNamespace

        self.config = SimpleNamespace(
            user=SimpleNamespace(email=email), registration=SimpleNamespace(username=username)
        )
        self.ui = _Ui(answer)


def test_no_derivable_name_is_asked_for_and_checked():
    assert username_for(_Ctx("1234@example.org", answer="jdoe")) == "jdoe"
    with pytest.raises(MissingInput):  # no terminal: the key to set is named
        username_for(_Ctx("1234@example.org"))
    with pytest.raises(FormError):
        username_for(_Ctx("1234@example.org", answer="J Doe"))


def test_a_configured_name_is_checked_and_a_derived_one_needs_no_question():
    ctx = _Ctx("Jane.Doe@example.org")
    assert username_for(ctx) == "jane.doe" and ctx.ui.asked == []
    with pytest.raises(FormError) as e:
        username_for(_Ctx("jane@example.org", username="Jane"))
    assert "'jane'" in e.value.hint
