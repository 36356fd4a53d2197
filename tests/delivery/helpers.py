"""Small helpers of the delivery tests."""

from __future__ import annotations

from pathlib import Path

import paramiko

from onboard.adapters import ssh
from onboard.ui import UI
from tests.lib.context import captured_ui
from tests.lib.servers.sshd import SSHD, TEST_USER


def target(server: SSHD, key: Path, known_hosts: Path, **kw) -> ssh.Target:
    return ssh.resolve(
        "127.0.0.1",
        user=TEST_USER,
        port=server.port,
        identity_file=key,
        known_hosts=known_hosts,
        ssh_config=paramiko.SSHConfig(),
        **kw,
    )


def connect(
    server: SSHD, key: Path, known_hosts: Path, ui: UI | None = None, trust: str = ""
) -> ssh.Connection:
    t = target(server, key, known_hosts)
    t.global_known_hosts = []  # the machine's own known_hosts plays no part in these tests
    return ssh.connect(t, ui or captured_ui(), trust_host_key=trust)


def listing(server: SSHD, rel: str = ".globus") -> list[str]:
    return sorted(server.ssh_as_user("ls", "-A", rel).stdout.split())


def mode(server: SSHD, rel: str) -> int:
    return (server.home / rel).stat().st_mode & 0o7777
