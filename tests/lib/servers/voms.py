"""A real VOMS server on loopback for the tests: the product's runner (onboard.sandbox.voms_server: a private
MariaDB plus Debian's `voms` daemon with voms-mysql-plugin), re-exported here next to the other real
servers, plus a context manager that starts and always stops it.

`add_member(dn, ca_dn)` makes a certificate a member of the VO's root group: it is what the sandbox's
on-approval hook (`onboard sandbox voms-add-member`) does
when an administrator approves a request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from onboard.sandbox.voms_server import (  # noqa: F401  (re-exported for the tests)
    MariaDB,
    VOMSServer,
    add_member,
    hook_command,
    mariadb_client,
    missing,
)


@contextlib.contextmanager
def running(vo: str, workdir: Path, host_cert: Path, host_key: Path, host_dn: str, ca_dn: str,
            cert_dir: Path, db: MariaDB | None = None) -> Iterator[VOMSServer]:
    """A VOMS server for `vo` (on its own MariaDB unless `db` is shared), stopped afterwards in any case."""
    own = db is None
    database = db or MariaDB(workdir / "db").start()
    server = None
    try:
        server = VOMSServer(vo, database, workdir / "server", host_cert, host_key, host_dn, ca_dn,
                            cert_dir).start()
        yield server
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            if own:
                database.stop()
