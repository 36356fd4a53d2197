"""The journey's steps: one module each, a `run(ctx)` function, found by name from the workflows.

A step is idempotent: it first looks for what an earlier, interrupted run already did. It returns when
its work is done (the transition completes), raises `Waiting` when the outside world has to move first,
raises `Outcome(trigger, reason)` to take another transition (e.g. `rejected`), or raises an
`OnboardError`. It gets everything it touches through the context, so tests can hand it fakes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onboard.steps.context import StepContext

StepFunction = "Callable[[StepContext], None]"

# step name -> module under onboard.steps (each defines run(ctx))
STEPS: dict[str, str] = {
    "obtain": "obtain",
    "convert": "convert",
    "register": "register",
    "confirm_email": "confirm_email",
    "await_approval": "await_approval",
    "link_certificate": "link_certificate",  # IAM: the certificate linked to the account (VOMS-AA answers)
    "deliver": "deliver",
    "verify": "verify",
    # the second year (`onboard renew`): the VO told about a new certificate, and its answer
    "add_certificate": "add_certificate",
    "await_certificate": "await_certificate",
    "tokens": "tokens",  # IAM VOs with a token issuer: an oidc-agent account and a WLCG token checked
}


def names() -> set[str]:
    return set(STEPS)


def resolve(name: str) -> Callable[[StepContext], None]:
    module = importlib.import_module(f"onboard.steps.{STEPS[name]}")
    return module.run
