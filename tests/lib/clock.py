"""The one fake clock: onboard's `ctx.now` calls it (a datetime), the sandbox's clock reads
`clock.timestamp` (seconds); tests move it with `advance()` or by setting `t`. Expiry without sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self, start: datetime | None = None):
        self.t = start or datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.t

    def timestamp(self) -> float:
        return self.t.timestamp()

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
