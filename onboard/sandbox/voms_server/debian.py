"""What Debian's packages put where: the tools, voms-mysql-plugin and its schema."""

from __future__ import annotations

from pathlib import Path

from onboard.sandbox.processes import tool

SCHEMA = Path("/usr/share/voms/voms-mysql.data")
PLUGIN = Path("/usr/lib/voms/libvomsmysql.so")
TOOLS = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "voms")
PACKAGES = "mariadb-server voms-server voms-mysql-plugin"


def required(name: str) -> str:
    path = tool(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install {PACKAGES})")
    return path


def missing() -> list[str]:
    """What this machine lacks to run a VOMS server (empty: it can)."""
    out = [f"no {t}" for t in TOOLS if tool(t) is None]
    if not PLUGIN.exists():
        out.append("no voms-mysql-plugin")
    return out
