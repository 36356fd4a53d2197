"""Bounded exponential backoff for a busy server: the waits between tries of one operation.

A room of trainees hits the same host at the same second, and every one of them retries: the waits are
jittered (each a random point in its upper half) so that the retries do not arrive together again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    attempts: int = 6  # tries in all, the first included
    base: float = 0.5  # the wait after the first failure; doubled each time
    cap: float = 8.0  # no single wait longer than this
    sleep: Callable[[float], None] = time.sleep

    def waits(self) -> Iterator[float]:
        """The waits between the tries (attempts - 1 of them)."""
        for n in range(self.attempts - 1):
            full = min(self.cap, self.base * 2**n)
            yield full / 2 + random.random() * full / 2  # noqa: S311 - jitter, not a secret

    @property
    def budget(self) -> float:
        """The longest time the waits can add up to (for messages)."""
        return sum(min(self.cap, self.base * 2**n) for n in range(self.attempts - 1))

    def tries(self) -> Iterator[int]:
        """1, 2, ... attempts, sleeping before every try but the first."""
        waits = self.waits()
        for n in range(1, self.attempts + 1):
            if n > 1:
                self.sleep(next(waits))
            yield n


DEFAULT = Backoff()
