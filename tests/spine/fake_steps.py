"""Fake steps for engine tests: each records its call in a file, so a run in another process can be checked.

Behaviour is driven by files in $FAKE_DIR: `<step>.wait` makes the step wait (its content: seconds until due),
`<step>.outcome` makes it choose that outcome, `<step>.fail` makes it fail.
"""

from __future__ import annotations

import os
from pathlib import Path

from onboard.errors import CredentialError, Outcome

STEP_NAMES = ["obtain", "convert", "register", "confirm_email", "await_approval", "deliver", "verify"]


def _dir() -> Path:
    return Path(os.environ["FAKE_DIR"])


def make(name: str):
    def run(ctx) -> None:
        d = _dir()
        with open(d / "calls.log", "a") as f:
            f.write(name + "\n")
        if (d / f"{name}.fail").exists():
            raise CredentialError(f"{name} failed on purpose", "remove the .fail file")
        if (d / f"{name}.wait").exists():
            raise ctx.wait(f"{name} outside", after_seconds=float((d / f"{name}.wait").read_text() or 60))
        if (d / f"{name}.outcome").exists():
            raise Outcome((d / f"{name}.outcome").read_text().strip(), f"{name} said so")
        ctx.record.artifacts.extra[name] = "done"
    return run


def resolve(name: str):
    return make(name)
