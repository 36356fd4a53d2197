"""Certificate authorities: what each one's portal asks of a person, step by step.

A provider says where its portal is, what the person must do there (one short instruction per step,
as the CA's own guide says it), which file the download usually is, and whether it can be used at all
today. The obtain step (onboard.steps.obtain) opens the portal, shows the steps and watches the download
directory; a provider with a flow of its own (the sandbox CA, onboard's own key + CSR) overrides `obtain`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onboard.errors import ConfigError

if TYPE_CHECKING:
    from onboard.config import Config
    from onboard.steps.context import StepContext

PROVIDERS: dict[str, str] = {
    "harica": "GÉANT TCS via HARICA (Europe, since January 2025)",
    "sectigo": "GÉANT TCS via Sectigo (2020–2024; certificates still valid)",
    "cilogon": "CILogon (retired: no new user certificates)",
    "other": "any other IGTF CA: a .p12 download, or a key and CSR made by onboard",
    "sandbox": "the onboard sandbox CA (orientation sessions, demos, tests)",
}


@dataclass
class Provider:
    name: str = ""
    title: str = ""
    download_names: tuple[str, ...] = ()  # what the portal's download is usually called

    def portal(self, cfg: Config, ctx: StepContext | None = None) -> str:
        return cfg.ca.portal_url

    def check(self, ctx: StepContext) -> None:
        """Raise early (before anything is shown) when this CA cannot be used."""

    def intro(self, cfg: Config) -> list[str]:
        """Sentences for newcomers: what this CA is and what to expect."""
        return []

    def steps(self, cfg: Config, portal: str, download_dir: str) -> list[str]:
        raise NotImplementedError

    def obtain(self, ctx: StepContext) -> bool:
        """A flow of the provider's own; return True when it handled the step (False: portal + watcher)."""
        return False


def get(name: str) -> Provider:
    if name not in PROVIDERS:
        raise ConfigError(f"config key ca.provider: unknown CA provider '{name}'.",
                          f"Use one of: {', '.join(PROVIDERS)}.")
    module = importlib.import_module(f"onboard.obtain.{name}")
    return module.PROVIDER
