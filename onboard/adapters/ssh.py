"""SSH to the submit host the way a careful admin would: OpenSSH's own configuration, checked host keys.

- `~/.ssh/config` is honoured through paramiko.SSHConfig: Host aliases, HostName, User, Port,
  IdentityFile, IdentitiesOnly, ProxyJump (bastions, chained), HostKeyAlias, UserKnownHostsFile,
  GlobalKnownHostsFile. Values from onboard's own configuration win, as a command line would.
- Authentication: the agent, then the identity files (an encrypted one is unlocked by a prompt when
  there is a terminal), then keyboard-interactive and password prompts (terminal only).
- Host keys: system and user known_hosts, RejectPolicy. An unknown key is shown with its fingerprint and
  accepted only on explicit confirmation (a yes at the prompt, or `--trust-host-key SHA256:...` /
  `submit_host.trust_host_key` naming exactly that key), then appended to the user's known_hosts. A key
  that differs from the known one is always fatal, whatever the flags say.

Everything a delivery does goes over one `Connection` (exec channels and one SFTP session).
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import io
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from onboard.errors import Exit, SSHError

if TYPE_CHECKING:
    from onboard.ui import UI

# every failure is reported as an SSHError; paramiko's own log lines ("Socket exception: ...") would
# otherwise reach stderr through logging's last-resort handler
logging.getLogger("paramiko").addHandler(logging.NullHandler())

SYSTEM_KNOWN_HOSTS = (Path("/etc/ssh/ssh_known_hosts"), Path("/etc/ssh/ssh_known_hosts2"))
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
CONNECT_TIMEOUT = 15.0


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256: and the unpadded base64 of the SHA-256 of the public key blob."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


# -- where to connect: onboard's config over ~/.ssh/config -------------------------------------------------


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


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


SYSTEM_SSH_CONFIG = Path("/etc/ssh/ssh_config")


def load_ssh_config(path: Path | None = None, system: Path | None = SYSTEM_SSH_CONFIG) -> paramiko.SSHConfig:
    """The user's ~/.ssh/config, then the system's /etc/ssh/ssh_config: like ssh, the first value wins."""
    cfg = paramiko.SSHConfig()
    for f in (path or _home() / ".ssh" / "config", system):
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
        else (_paths(found.get("userknownhostsfile")) or [_home() / ".ssh" / "known_hosts"])
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


# -- host keys ------------------------------------------------------------------------------------------


class ConfirmOrReject(paramiko.RejectPolicy):
    """RejectPolicy, except for a key the user explicitly accepts (flag with its fingerprint, or a yes)."""

    def __init__(self, target: Target, ui: UI | None, trusted: str = "", bastion: bool = False):
        self.target = target
        self.bastion = bastion  # --trust-host-key names the submit host's key, never a bastion's
        self.ui = ui
        self.trusted = trusted.strip()
        self.accepted: str = ""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fp = fingerprint(key)
        where = self.target.display
        if self.trusted:
            if _same_fingerprint(self.trusted, fp):
                self._accept(key, fp)
                return
            raise SSHError(
                f"the host key of {where} is {fp}, not the {self.trusted} you said to trust.",
                "Check the fingerprint with the host's administrators; never trust a key that "
                "differs from the one they give you.",
                exit_code=Exit.HOST_KEY_UNKNOWN,
            )
        if self.ui is not None and self.ui.interactive:
            self.ui.say(f"The host key of {where} is not known yet.")
            self.ui.say(f"  {key.get_name()} key fingerprint: {fp}")
            self.ui.explain("Compare it with the one the site publishes or its administrators give you.")
            if self.ui.confirm(f"Is {fp} the right key for {where}?", flag="--trust-host-key"):
                self._accept(key, fp)
                return
        raise SSHError(
            f"the host key of {where} is unknown ({key.get_name()} {fp}); not connecting without "
            "confirmation.",
            (
                f"If the host's administrators confirm that fingerprint, pass --trust-host-key {fp} "
                "(or set submit_host.trust_host_key)."
            )
            if not self.bastion
            else (
                f"{where} is a bastion (ProxyJump): once its administrators confirm that fingerprint, "
                f"log in to it with ssh once (which records the key in {self.target.user_known_hosts[0]})."
            ),
            exit_code=Exit.HOST_KEY_UNKNOWN,
        )

    def _accept(self, key: paramiko.PKey, fp: str) -> None:
        self.accepted = fp
        save_known_host(
            self.target.user_known_hosts[0], self.target.key_name, key, hashed=self.target.hash_known_hosts
        )


def _same_fingerprint(given: str, actual: str) -> bool:
    g = given.strip()
    if not g.upper().startswith("SHA256:"):
        g = "SHA256:" + g
    return g[7:].rstrip("=") == actual[7:] and g[:7].upper() == "SHA256:"


def save_known_host(path: Path, name: str, key: paramiko.PKey, hashed: bool = False) -> None:
    """Append `name keytype base64` to a known_hosts file (created 0600 in a 0700 ~/.ssh); the name
    hashed as ssh does when HashKnownHosts is on (Debian's default)."""
    if hashed:
        name = paramiko.HostKeys.hash_host(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        with open(path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            line = "\n" + line
        os.write(fd, line.encode())
    finally:
        os.close(fd)


# -- authentication -------------------------------------------------------------------------------------


class _KeyboardInteractive(paramiko.AuthSource):
    def __init__(self, username: str, ui: UI, where: str):
        super().__init__(username=username)
        self.ui, self.where = ui, where

    def authenticate(self, transport: paramiko.Transport) -> list[str]:
        def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
            if instructions.strip():
                self.ui.say(instructions.strip())
            return [
                self.ui.ask(f"{self.where}: {p.strip().rstrip(':')}", secret=not echo) for p, echo in prompts
            ]

        return transport.auth_interactive(self.username, handler)


class Auth(paramiko.AuthStrategy):
    """Agent keys, identity files, then prompts (only with a terminal)."""

    def __init__(self, target: Target, ui: UI | None):
        super().__init__(ssh_config=None)
        self.target, self.ui = target, ui
        self.tried: list[str] = []
        self.agent: paramiko.Agent | None = None

    def _identity_files(self) -> list[Path]:
        files = list(self.target.identity_files)
        if not files:  # like ssh: the default key files only when none is configured
            files = [_home() / ".ssh" / name for name in DEFAULT_IDENTITIES]
        return [f for f in files if f.exists()]

    def get_sources(self) -> Iterator[paramiko.AuthSource]:
        user = self.target.user
        interactive = self.ui is not None and self.ui.interactive
        if not self.target.identities_only and os.environ.get("SSH_AUTH_SOCK"):
            with contextlib.suppress(paramiko.SSHException, OSError):
                self.agent = paramiko.Agent()
                keys = self.agent.get_keys()
                if keys:
                    self.tried.append(f"agent ({len(keys)} key{'s' if len(keys) != 1 else ''})")
                for k in keys:
                    yield paramiko.InMemoryPrivateKey(user, k)
        for path in self._identity_files():
            pkey = self._load(path, interactive)
            if pkey is not None:
                self.tried.append(str(path))
                yield paramiko.OnDiskPrivateKey(user, "ssh-config", path, pkey)
        if interactive:
            assert self.ui is not None
            self.tried.append("keyboard-interactive/password")
            yield _KeyboardInteractive(user, self.ui, self.target.display)
            yield paramiko.Password(
                user, lambda: self.ui.ask(f"Password for {self.target.display}", secret=True)
            )

    def _load(self, path: Path, interactive: bool) -> paramiko.PKey | None:
        try:
            return paramiko.PKey.from_path(path)
        except (paramiko.PasswordRequiredException, TypeError):  # TypeError: an encrypted OpenSSH-format key
            if not interactive:
                return None  # maybe the agent holds it; said in the error if nothing works
            assert self.ui is not None
            try:
                return paramiko.PKey.from_path(
                    path, self.ui.ask(f"Passphrase for SSH key {path}", secret=True).encode()
                )
            except (paramiko.SSHException, ValueError, TypeError):
                self.ui.warn(f"wrong passphrase for {path}; skipping that key")
                return None
        except (paramiko.SSHException, OSError, ValueError):
            return None  # not a private key we can read: ssh would skip it as well

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()


# -- the connection -------------------------------------------------------------------------------------


@dataclass
class Result:
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class Connection:
    """An authenticated SSH connection (through its bastions, if any) with exec and one SFTP session."""

    def __init__(self, target: Target, client: paramiko.SSHClient, hops: list[paramiko.SSHClient]):
        self.target = target
        self.client = client
        self.hops = hops
        self._sftp: paramiko.SFTPClient | None = None
        self.tcp_connections = 1 + len(hops)
        self.exec_channels = 0

    @property
    def transport(self) -> paramiko.Transport:
        t = self.client.get_transport()
        if t is None or not t.is_active():
            raise SSHError(
                f"the connection to {self.target.display} was closed.",
                "Run again; nothing was lost.",
                exit_code=Exit.NETWORK,
            )
        return t

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 120.0) -> Result:
        """Run `command` (a shell command line without secrets); `stdin` carries anything secret."""
        try:
            chan = self.transport.open_session(timeout=timeout)
            self.exec_channels += 1
            chan.settimeout(timeout)
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            # outputs here are small (a few KB): reading stdout to EOF, then stderr, cannot stall the window
            out = chan.makefile("rb").read()
            err = chan.makefile_stderr("rb").read()
            status = chan.recv_exit_status()
            chan.close()
            return Result(status, out, err)
        except TimeoutError:
            raise SSHError(
                f"a command on {self.target.display} did not finish within {timeout:.0f} s.",
                "Check the submit host's load, then run again.",
                exit_code=Exit.REMOTE,
            ) from None
        except (paramiko.SSHException, OSError) as e:
            raise SSHError(
                f"the connection to {self.target.display} failed: {e}.",
                "Run again; nothing was lost.",
                exit_code=Exit.NETWORK,
            ) from None

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self.client.open_sftp()
            except (paramiko.SSHException, OSError) as e:
                raise SSHError(
                    f"{self.target.display} offers no SFTP ({e}).",
                    "Ask the administrators to enable the sftp subsystem.",
                    exit_code=Exit.REMOTE,
                ) from None
        return self._sftp

    def close(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
        for c in [self.client, *reversed(self.hops)]:
            with contextlib.suppress(Exception):
                c.close()


def _client(
    target: Target, ui: UI | None, trusted: str, bastion: bool = False
) -> tuple[paramiko.SSHClient, ConfirmOrReject]:
    client = paramiko.SSHClient()
    for f in target.global_known_hosts:
        if f.exists():
            with contextlib.suppress(OSError, paramiko.SSHException):
                client.load_system_host_keys(str(f))
    for f in target.user_known_hosts:
        if f.exists():
            try:
                client.get_host_keys().load(str(f))
            except (OSError, paramiko.SSHException) as e:
                raise SSHError(
                    f"{f}: cannot be read ({e}).", "Fix or move that known_hosts file.", exit_code=Exit.CONFIG
                ) from None
    policy = ConfirmOrReject(target, ui, trusted, bastion)
    client.set_missing_host_key_policy(policy)
    return client, policy


def _open_socket(target: Target, via: paramiko.SSHClient | None) -> socket.socket | paramiko.Channel:
    if via is None:
        try:
            return socket.create_connection((target.hostname, target.port), timeout=CONNECT_TIMEOUT)
        except OSError as e:
            raise SSHError(
                f"cannot reach {target.hostname} port {target.port}: {e.strerror or e}.",
                "Check the host name and port (submit_host.* or ~/.ssh/config) and your network.",
                exit_code=Exit.NETWORK,
            ) from None
    transport = via.get_transport()
    assert transport is not None
    try:
        return transport.open_channel(
            "direct-tcpip", (target.hostname, target.port), ("127.0.0.1", 0), timeout=CONNECT_TIMEOUT
        )
    except (paramiko.SSHException, OSError) as e:
        raise SSHError(
            f"the bastion could not reach {target.hostname} port {target.port}: {e}.",
            "Check ProxyJump and the host name as the bastion sees it.",
            exit_code=Exit.NETWORK,
        ) from None


def _login(
    target: Target, ui: UI | None, trusted: str, via: paramiko.SSHClient | None, bastion: bool = False
) -> paramiko.SSHClient:
    client, _policy = _client(target, ui, trusted, bastion)
    sock = _open_socket(target, via)
    if not target.user:
        import getpass

        target.user = getpass.getuser()
    auth = Auth(target, ui)
    try:
        # hostname= only names the key in known_hosts (the socket is already connected)
        lookup = target.host_key_alias or target.hostname
        client.connect(
            lookup,
            port=target.port,
            username=target.user,
            sock=sock,
            timeout=CONNECT_TIMEOUT,
            banner_timeout=CONNECT_TIMEOUT,
            auth_timeout=CONNECT_TIMEOUT,
            auth_strategy=auth,
        )
        return client
    except paramiko.BadHostKeyException as e:
        client.close()
        raise SSHError(
            f"the host key of {target.display} has CHANGED: known_hosts has "
            f"{fingerprint(e.expected_key)}, the host now offers {fingerprint(e.key)}.",
            "This can be an attack. Ask the host's administrators; only if they confirm a new key, "
            f"remove the old one with `ssh-keygen -R '{target.key_name}'` and connect again.",
            exit_code=Exit.HOST_KEY_CHANGED,
        ) from None
    except SSHError:
        client.close()
        raise
    except paramiko.AuthenticationException:
        client.close()
        tried = ", ".join(auth.tried) or "no key found"
        raise SSHError(
            f"could not log in to {target.display} (tried: {tried}).",
            "Put your public key into ~/.ssh/authorized_keys there (ssh-copy-id), and name the key with "
            "submit_host.identity_file or IdentityFile in ~/.ssh/config.",
            exit_code=Exit.SSH_AUTH,
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as e:
        client.close()
        raise SSHError(
            f"SSH to {target.display} failed: {e or type(e).__name__}.",
            "Check that it is an SSH server and that you can reach it (`ssh` to it by hand).",
            exit_code=Exit.NETWORK,
        ) from None
    finally:
        auth.close()


def connect(target: Target, ui: UI | None, *, trust_host_key: str = "") -> Connection:
    """Log in (through each bastion of ProxyJump in turn).
    `trust_host_key` applies to the submit host only."""
    hops: list[paramiko.SSHClient] = []
    try:
        via = None
        for hop in target.jump:
            via = _login(hop, ui, "", via, bastion=True)
            hops.append(via)
        client = _login(target, ui, trust_host_key, via)
    except BaseException:
        for h in reversed(hops):
            h.close()
        raise
    return Connection(target, client, hops)


def connect_configured(config, ui: UI | None, options: dict | None = None) -> Connection:
    """Connect to the submit host named by onboard's configuration (section submit_host)."""
    sh = config.submit_host
    if not sh.host:
        from onboard.errors import MissingInput

        raise MissingInput("The submit host", key="submit_host.host")
    target = resolve(
        sh.host, user=sh.user, port=sh.port, identity_file=sh.identity_file, known_hosts=sh.known_hosts
    )
    trusted = ((options or {}).get("trust_host_key") or sh.trust_host_key or "").strip()
    return connect(target, ui, trust_host_key=trusted)
