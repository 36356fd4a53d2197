"""The sandbox: an embedded grid for orientation sessions, demos and tests.

A CA ("Onboard Sandbox": root + personal CA, trust directory), a VOMS-Admin-compatible registration
server over HTTPS with client certificates (plus IAM/VOMRS emulations and the trainees' portal as
extensions of its route table), mail into Maildirs (or SMTP), and an SSH submit host. It behaves like
the real servers (reference/registration.md), so what works against it works against them. When
Debian's mariadb-server, voms-server and voms-mysql-plugin are installed, the VO's attribute authority
is real too: `voms_server` runs a private MariaDB and the voms daemon, fed by the on-approval hook.

    from onboard.sandbox import Sandbox, Settings
    sb = Sandbox(directory, Settings(port_base=0, vos=["testvo"])).start()   # in this process
    ...; sb.stop()
    onboard.sandbox.daemon.up(directory) / .down(directory)                    # in the background

Modules: manager (Sandbox), settings, context (DB, mailer, CA, clock), web (route registry, TLS
listeners), identity (the TLS client's identity), ca, dn, mail, daemon (the background process), demo
(what `onboard demo` starts), processes (helpers for server processes), portal (the trainees' join point
and CA portal). Folders: voms_admin, iam, vomrs (the registration services' imitations), submit_host (SSH
and SFTP), voms_server (a real voms-server: MariaDB + Debian's voms daemon).
The trainee's and the instructor's orientation tools (join, report, board) are onboard/orientation/.
Nothing heavy is imported here: `Sandbox` and `Settings` load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sandbox", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from onboard.sandbox.manager import Sandbox

        return Sandbox
    if name == "Settings":
        from onboard.sandbox.settings import Settings

        return Settings
    raise AttributeError(f"module 'onboard.sandbox' has no attribute {name!r}")
