"""The one factory of step contexts: what a step receives (record, configuration, a UI whose output the
test reads, secrets, checkpoint, clock), each part defaulted to the plainest thing that works."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from onboard.config import Config
from onboard.secrets import Secrets
from onboard.state import JourneyRecord, utcnow
from onboard.steps.context import StepContext
from onboard.ui import UI


def captured_ui(interactive: bool = False, answers: list[str] | None = None, quiet: bool = False) -> UI:
    """A UI writing into StringIOs (read them with output()); `answers` are what the user types, in order."""
    ui = UI(quiet=quiet, interactive=interactive, out=io.StringIO(), err=io.StringIO())
    if answers is not None:
        queue = list(answers)
        ui.ask = lambda prompt, **kw: queue.pop(0)  # type: ignore[method-assign]
    return ui


def step_context(
    *,
    record: JourneyRecord | None = None,
    config: Config | None = None,
    ui: UI | None = None,
    secrets: Secrets | None = None,
    passphrase_file: Path | None = None,
    checkpoint: Callable[[], None] | None = None,
    now: Callable[[], datetime] = utcnow,
    state: str = "",
    options: dict[str, Any] | None = None,
) -> StepContext:
    ui = ui or captured_ui()
    return StepContext(
        record=record or JourneyRecord(vo="testvo", workflow="voms-admin", state=state or "register"),
        config=config or Config(),
        ui=ui,
        secrets=secrets or Secrets(ui, passphrase_file=passphrase_file),
        checkpoint=checkpoint or (lambda: None),
        now=now,
        state=state,
        options=options or {},
    )


def output(ctx: StepContext) -> str:
    """Everything the step said (out and err) through a captured_ui()."""
    return ctx.ui.out.getvalue() + ctx.ui.err.getvalue()
