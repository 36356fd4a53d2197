"""Registering with a VO: one `Registrar` per registration service (VOMS-Admin, INDIGO IAM, VOMRS),
the confirmation mail and link, approval polling. The steps ask `get(kind)` for the journey's registrar.

Light at import: a registrar (and requests) is imported when it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from onboard.errors import ConfigError

if TYPE_CHECKING:
    from onboard.registration.registrar import Registrar

# kind (catalog `kind`, config vos.<vo>.kind, workflow name) -> the module whose REGISTRAR serves it
REGISTRARS: dict[str, str] = {
    "voms-admin": "voms_admin_registrar",
    "iam": "iam",
    "iam-browser-login": "iam_browser",  # IAM that registers only after a login (CERN): onboard guides
    "vomrs": "vomrs",  # retired upstream; kept working against the sandbox's emulation
}


def get(kind: str) -> Registrar:
    if kind not in REGISTRARS:
        raise ConfigError(f"unknown registration service '{kind}'.", f"Use one of: {', '.join(REGISTRARS)}.")
    module = importlib.import_module(f"onboard.registration.{REGISTRARS[kind]}")
    return module.REGISTRAR
