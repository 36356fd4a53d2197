"""The confirm_email step of the journey."""

from __future__ import annotations

from onboard.errors import NotImplementedStep
from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    raise NotImplementedStep("confirm_email")
