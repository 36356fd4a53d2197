"""The one way tests start the sandbox: in this process, on free loopback ports, with a CA made once per
test session and copied in (key generation is the slow part of a sandbox's first start)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.lib import tiers
from tests.lib.clock import Clock

VO = "testvo"
_template: list[Path] = []


def ca_template() -> Path:
    """The session's sandbox CA (with host and VOMS certificates), made on first use."""
    if not _template:
        from onboard.sandbox.manager import Sandbox
        from onboard.sandbox.settings import Settings

        d = Path(tempfile.mkdtemp(prefix="onboard-test-ca-"))
        atexit.register(shutil.rmtree, d, True)
        Sandbox(d / "sb", Settings(port_base=0)).prepare()
        _template.append(d / "sb" / "ca")
    return _template[0]


def seed_ca(directory: Path) -> Path:
    """A sandbox directory holding the session's CA (for a sandbox about to be started)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (directory / "ca").exists():
        shutil.copytree(ca_template(), directory / "ca", symlinks=True)
    return directory


def prepare_sandbox(directory: Path, *, vos: tuple[str, ...] | list[str] = (VO, "othervo"), **settings: Any):
    """An onboard.sandbox.manager.Sandbox with its CA and certificates, nothing listening (no server)."""
    from onboard.sandbox.manager import Sandbox
    from onboard.sandbox.settings import Settings

    seed_ca(directory)
    return Sandbox(directory, Settings(port_base=0, vos=list(vos), **settings)).prepare()


def start_sandbox(
    directory: Path,
    clock: Clock | None = None,
    *,
    vos: tuple[str, ...] | list[str] = (VO, "othervo"),
    ssh: bool = True,
    log_file: Path | None = None,
    **settings: Any,
):
    """A started onboard.sandbox.manager.Sandbox in `directory` (stop() it)."""
    from onboard.sandbox.manager import Sandbox
    from onboard.sandbox.settings import Settings

    tiers.guard("the sandbox")
    seed_ca(directory)
    st = Settings(port_base=0, vos=list(vos), **settings)
    log = log_file or directory.parent / f"{directory.name}.log"
    return Sandbox(directory, st, clock=clock.timestamp if clock else None, log_file=log).start(ssh=ssh)
