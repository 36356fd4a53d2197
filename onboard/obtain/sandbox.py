"""The onboard sandbox CA: hands out a password-protected PKCS#12 the way a CA portal does."""

from __future__ import annotations

from onboard.errors import NotImplementedStep
from onboard.obtain import Provider


class Sandbox(Provider):
    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        return []

    def obtain(self, ctx) -> bool:
        raise NotImplementedStep("obtain from the sandbox CA", "onboard/sandbox/ca.py is not there yet")


PROVIDER = Sandbox(name="sandbox", title="onboard sandbox CA")
