"""Where to connect: the submit host as onboard's configuration and OpenSSH's own name it.

`~/.ssh/config` is honoured through paramiko.SSHConfig: Host aliases, HostName, User, Port, IdentityFile,
IdentitiesOnly, ProxyJump (bastions, chained), HostKeyAlias, UserKnownHostsFile, GlobalKnownHostsFile.
Values from onboard's own configuration win, as a command line would.
"""

from __future__ import annotations

import glob
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from onboard.errors import Exit, SSHError

SYSTEM_KNOWN_HOSTS = (Path("/etc/ssh/ssh_known_hosts"), Path("/etc/ssh/ssh_known_hosts2"))


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass
class Target:
    alias: str  # what the user wrote (a Host alias or a name)
    hostname: str
    port: int = 22
    user: str = ""
    identity_files: list[Path] = field(default_factory=list)
    identities_only: bool = False
    host_key_alias: str = ""
    hash_known_hosts: bool = False
    user_known_hosts: list[Path] = field(default_factory=list)
    global_known_hosts: list[Path] = field(default_factory=list)
    jump: list[Target] = field(default_factory=list)  # bastions, outermost first

    @property
    def display(self) -> str:
        port = f":{self.port}" if self.port != 22 else ""
        return f"{self.user}@{self.hostname}{port}" if self.user else f"{self.hostname}{port}"

    @property
    def key_name(self) -> str:
        """The name this host's key is filed under in known_hosts."""
        return self.host_key_alias or known_hosts_name(self.hostname, self.port)


def home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


SYSTEM_SSH_CONFIG = Path("/etc/ssh/ssh_config")


def load_ssh_config(path: Path | None = None, system: Path | None = SYSTEM_SSH_CONFIG) -> paramiko.SSHConfig:
    """The user's ~/.ssh/config, then the system's /etc/ssh/ssh_config: like ssh, the first value wins."""
    cfg = paramiko.SSHConfig()
    for f in (path or home() / ".ssh" / "config", system):
        if f is None or not f.exists():
            continue
        try:
            cfg.parse(io.StringIO(_with_includes(f, f.parent if f != system else Path("/etc/ssh"))))
        except (OSError, UnicodeDecodeError, paramiko.ConfigParseError) as e:
            raise SSHError(
                f"{f}: cannot be read ({e}).",
                "Fix the SSH configuration file, then run again.",
                exit_code=Exit.CONFIG,
            ) from None
    return cfg


def _with_includes(path: Path, base: Path, depth: int = 0) -> str:
    """The file's text with each `Include` replaced by the files it names (paramiko ignores Include).
    Relative names are relative to ~/.ssh (user file) or /etc/ssh (system file), as ssh_config(5) says."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.strip().replace("=", " ", 1).split()
        if words and words[0].lower() == "include" and depth < 8:
            for pattern in words[1:]:
                pattern = os.path.expanduser(pattern)
                full = pattern if os.path.isabs(pattern) else str(base / pattern)
                for inc in sorted(glob.glob(full)):
                    if os.path.isfile(inc):
                        out.append(_with_includes(Path(inc), base, depth + 1))
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def _paths(values: object) -> list[Path]:
    if not values:
        return []
    items = values if isinstance(values, list) else str(values).split()
    return [Path(os.path.expanduser(str(v))) for v in items if str(v).lower() != "none"]


def resolve(
    host: str,
    *,
    user: str = "",
    port: int | None = None,
    identity_file: Path | None = None,
    known_hosts: Path | None = None,
    ssh_config: paramiko.SSHConfig | None = None,
    _depth: int = 0,
) -> Target:
    """The connection parameters for `host`, as OpenSSH would work them out."""
    if _depth > 8:
        raise SSHError(
            "ProxyJump chain is longer than 8 hops (a loop?).",
            "Check ProxyJump in ~/.ssh/config.",
            exit_code=Exit.CONFIG,
        )
    cfg = ssh_config if ssh_config is not None else load_ssh_config()
    # "user@host:port" (a ProxyJump hop) splits before the lookup, like ssh does
    name = host
    if "@" in name:
        at_user, name = name.rsplit("@", 1)
        user = user or at_user
    if name.count(":") == 1:
        name, at_port = name.split(":")
        port = port or int(at_port)
    found = cfg.lookup(name)
    t = Target(alias=host, hostname=found.get("hostname", name))
    t.port = int(port or found.get("port", 22))
    t.user = user or found.get("user", "")
    files = [identity_file.expanduser()] if identity_file else _paths(found.get("identityfile"))
    t.identity_files = files
    t.identities_only = str(found.get("identitiesonly", "no")).lower() == "yes"
    t.host_key_alias = found.get("hostkeyalias", "")
    t.hash_known_hosts = str(found.get("hashknownhosts", "no")).lower() == "yes"
    t.user_known_hosts = (
        [known_hosts.expanduser()]
        if known_hosts
        else (_paths(found.get("userknownhostsfile")) or [home() / ".ssh" / "known_hosts"])
    )
    t.global_known_hosts = _paths(found.get("globalknownhostsfile")) or list(SYSTEM_KNOWN_HOSTS)
    jump = str(found.get("proxyjump", "") or "")
    if jump and jump.lower() != "none":
        # a hop inherits neither our user nor our identity: it is looked up on its own
        t.jump = [
            resolve(hop.strip(), ssh_config=cfg, known_hosts=known_hosts, _depth=_depth + 1)
            for hop in jump.split(",")
            if hop.strip()
        ]
    if "proxycommand" in found and not t.jump:
        raise SSHError(
            f"{host}: ProxyCommand is not supported by onboard.",
            "Use ProxyJump (ssh -J) for the bastion instead.",
            exit_code=Exit.CONFIG,
        )
    return t
