"""A real VOMS attribute authority for the sandbox's VOs, when Debian's packages are installed.

The sandbox's registration server stands in for VOMS-Admin (no Debian package); the attribute authority
that `voms-proxy-init` talks to need not be a stand-in: with `mariadb-server`, `voms-server` and
`voms-mysql-plugin` installed, this module runs a private MariaDB (its own data directory, socket and
loopback port, never /etc/mysql) and Debian's `voms` daemon on top of it, set up as
/work/shared/reference/voms-loopback.md says (and around its traps). `onboard demo`, bench/orientation
and the test suite use it.

    db = MariaDB(workdir / "db").start()
    server = VOMSServer(vo, db, workdir / "server", host_cert, host_key, host_dn, ca_dn, trust_dir).start()
    server.add_member(dn, ca_dn)                  # or, from the sandbox's on-approval hook:
    settings.on_approval = hook_command(db.socket, server.database, vo)
    server.stop(); db.stop()

The hook is `onboard sandbox voms-add-member ...` (onboard/commands/sandbox/voms.py): it makes the
approved certificate a member of the VO's root group.

Modules: debian (where the packages put things), mariadb (the private database server and its client),
server (the voms daemon), members (membership rows, the hook's command line), lapses (VOMS-Admin's
suspension columns, which voms-mysql-plugin honours at schema version 3; the status-change hook's line).
The process helpers are onboard/sandbox/processes.py.
"""

from onboard.sandbox.voms_server.debian import missing
from onboard.sandbox.voms_server.mariadb import MariaDB, mariadb_client
from onboard.sandbox.voms_server.members import add_member, database_name, hook_command
from onboard.sandbox.voms_server.server import VOMSServer

__all__ = [
    "MariaDB",
    "VOMSServer",
    "add_member",
    "database_name",
    "hook_command",
    "mariadb_client",
    "missing",
]
