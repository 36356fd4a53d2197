"""Delivery of the credential to the submit host: `deliver()` does it over one SSH connection.

install   the phases (inspect, prepare, upload, convert, finish), idempotent when resumed
scripts   the POSIX sh run on the host (passphrase on stdin only)
local     the package as onboard knows it; PEM files made in memory when the host cannot
verify    checks on the host afterwards: modes, key/cert match, vomses + LSC, voms-proxy-init
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from onboard.adapters.ssh import Connection
    from onboard.delivery.install import Report
    from onboard.delivery.local import Package
    from onboard.ui import UI


def deliver(
    conn: Connection,
    package: Package,
    passphrase: str,
    *,
    ui: UI | None = None,
    now: datetime | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Report:
    from datetime import timezone

    from onboard.delivery.install import Delivery

    return Delivery(conn, package, passphrase, ui, now or datetime.now(timezone.utc), on_progress).run()
