"""What a step receives: the journey record, the configuration, the user interface, the secrets, a clock
and the resources shared by the steps of one run (one HTTPS session per server, one SSH connection)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from onboard.errors import Waiting

if TYPE_CHECKING:
    from onboard.config import Config
    from onboard.secrets import Secrets
    from onboard.state import JourneyRecord
    from onboard.ui import UI


@dataclass
class StepContext:
    record: JourneyRecord
    config: Config
    ui: UI
    secrets: Secrets
    checkpoint: Callable[[], None]  # persist the record now (after a side effect, before the next)
    now: Callable[[], datetime]
    state: str = ""  # the state whose work the step does
    options: dict[str, Any] = field(default_factory=dict)  # flags of this run (--p12, --trust-host-key, ...)
    resources: dict[str, Any] = field(default_factory=dict)  # shared across the steps of one run
    # steps that finished in this run: what they checked a moment ago a later step need not check again
    finished: set[str] = field(default_factory=set)
    made: dict[str, Any] = field(default_factory=dict)  # what a step made in this run, for a later one

    @property
    def vo(self) -> str:
        return self.record.vo

    def resource(self, key: str, make: Callable[[], Any]) -> Any:
        """One instance per run of a costly resource (an HTTPS session, an SSH connection)."""
        if key not in self.resources:
            self.resources[key] = make()
        return self.resources[key]

    def close(self) -> None:
        for res in self.resources.values():
            with contextlib.suppress(Exception):
                res.close()
        self.resources.clear()

    def checks(self) -> int:
        """How many times this wait has been checked already (0 on the first check)."""
        wait = self.record.waits.get(self.state)
        return wait.checks if wait else 0

    def wait(self, what: str, *, after_seconds: float | None, hint: str | None = None) -> Waiting:
        """Build the Waiting a step raises; after_seconds=None means 'until a person acts'."""
        due = None if after_seconds is None else self.now() + timedelta(seconds=after_seconds)
        return Waiting(what, due, hint)

    def backoff(self, minimum: float | None = None, maximum: float | None = None) -> float:
        """Seconds until the next poll: starts at the minimum and doubles each check, capped."""
        reg = self.config.registration
        lo = reg.poll_min_seconds if minimum is None else minimum
        hi = reg.poll_max_seconds if maximum is None else maximum
        return float(min(hi, lo * (2 ** min(self.checks(), 30))))
