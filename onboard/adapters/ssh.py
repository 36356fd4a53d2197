"""SSH to the submit host the way a careful admin would: OpenSSH's own configuration, checked host keys.

- Where to connect (`~/.ssh/config`, ProxyJump, known_hosts files): ssh_target.py.
- Host keys (system and user known_hosts, RejectPolicy, a new key accepted only on explicit confirmation,
  a changed key always fatal): known_hosts.py.
- Authentication (here): the agent, then the identity files (an encrypted one is unlocked by a prompt when
  there is a terminal), then keyboard-interactive and password prompts (terminal only).

Everything a delivery does goes over one `Connection` (exec channels and one SFTP session).

A busy host (a room of trainees at once; sshd's MaxStartups and MaxSessions) drops new connections and
refuses new channels for a while: those are tried again with backoff (backoff.py), on a new connection
when the old one is gone, and only a refusal that lasts becomes an error, named as what it is (busy),
never as "offers no SFTP", which is said only when the host refuses the sftp subsystem itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import paramiko

from onboard.adapters.backoff import DEFAULT as DEFAULT_BACKOFF
from onboard.adapters.backoff import Backoff
from onboard.adapters.known_hosts import ConfirmOrReject, fingerprint, read_known_hosts, refuse_revoked
from onboard.adapters.ssh_busy import TransientSSHError, transient
from onboard.adapters.ssh_ciphers import aead_first
from onboard.adapters.ssh_target import Target, home, resolve
from onboard.errors import Exit, SSHError

if TYPE_CHECKING:
    from onboard.ui import UI

# every failure is reported as an SSHError; paramiko's own log lines ("Socket exception: ...") would
# otherwise reach stderr through logging's last-resort handler
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")
CONNECT_TIMEOUT = 15.0
_T = TypeVar("_T")
SFTP_REFUSALS = 2  # the subsystem refused this often on a live connection: the host has no SFTP


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
            files = [home() / ".ssh" / name for name in DEFAULT_IDENTITIES]
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

    def __init__(
        self,
        target: Target,
        client: paramiko.SSHClient,
        hops: list[paramiko.SSHClient],
        reopen: Callable[[], tuple[paramiko.SSHClient, list[paramiko.SSHClient]]] | None = None,
        retry: Backoff = DEFAULT_BACKOFF,
        ui: UI | None = None,
    ):
        self.target = target
        self.client = client
        self.hops = hops
        self._sftp: paramiko.SFTPClient | None = None
        self.tcp_connections = 1 + len(hops)
        self.exec_channels = 0
        self.refusals = 0  # channels a busy host refused and that were tried again
        self._reopen = reopen
        self.retry = retry
        self.ui = ui

    @property
    def alive(self) -> bool:
        t = self.client.get_transport()
        return t is not None and t.is_active()

    @property
    def transport(self) -> paramiko.Transport:
        t = self.client.get_transport()
        if t is None or not t.is_active():
            raise self._lost("was closed")
        return t

    def _lost(self, how: str) -> SSHError:
        """The connection went away under a command: running again is safe (the steps are idempotent)."""
        return TransientSSHError(
            f"the connection to {self.target.display} {how}.", "Run again; nothing was lost.",
            exit_code=Exit.NETWORK,
        )

    def reconnect(self) -> None:
        """Log in again (the old connection is gone); the SFTP session is opened again when next used."""
        if self._reopen is None:
            raise self._lost("was closed")
        self.close()
        self.client, self.hops = self._reopen()
        self._sftp = None
        self.tcp_connections += 1 + len(self.hops)

    def _drop_sftp(self) -> None:
        """Give the SFTP session's channel back: a host that allows few sessions per connection (sshd's
        MaxSessions) then has room for the channel asked for; SFTP is opened again when next used."""
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None

    def _channel(
        self, what: str, timeout: float, start: Callable[[paramiko.Channel], None]
    ) -> paramiko.Channel:
        """A session channel with `start` (exec, subsystem) accepted on it. Refusals and a connection lost
        before `start` was accepted are tried again: nothing ran on the host yet, so that is safe."""
        last: BaseException | None = None
        started_refused = 0  # the channel opened, then `start` was refused with the connection alive
        for _ in self.retry.tries():
            chan = None
            try:
                if not self.alive:
                    self.reconnect()
                chan = self.transport.open_session(timeout=min(timeout, CONNECT_TIMEOUT))
                start(chan)
                return chan
            except SSHError as e:  # logging in again failed
                if not transient(e):
                    raise
                last = e
            except (paramiko.SSHException, OSError, EOFError) as e:
                if chan is not None:
                    with contextlib.suppress(Exception):
                        chan.close()
                if not transient(e):
                    raise self._lost(f"failed: {e}") from None
                last = e
                if chan is None:
                    self._drop_sftp()
                elif self.alive:
                    started_refused += 1
                    if what == "open SFTP" and started_refused >= SFTP_REFUSALS:
                        raise SSHError(
                            f"{self.target.display} offers no SFTP (it refused the sftp subsystem: {e}).",
                            "Ask the administrators to enable the sftp subsystem.",
                            exit_code=Exit.REMOTE,
                        ) from None
            self.refusals += 1
            if self.refusals == 1 and self.ui is not None:  # once: the wait is not a hang
                self.ui.explain(
                    f"{self.target.display} is busy ({last}); onboard tries again for up to "
                    f"{self.retry.budget:.0f} s."
                )
        raise SSHError(
            f"{self.target.display} kept refusing a new SSH session (to {what}) for "
            f"{self.retry.budget:.0f} s: {last or 'no reason given'}. The host is busy, or limits sessions "
            "(sshd's MaxSessions, MaxStartups).",
            "Run again in a minute (`onboard resume`); nothing was lost.",
            exit_code=Exit.NETWORK,
        )

    def retrying(self, work: Callable[[], _T]) -> _T:
        """Run `work` (idempotent: a delivery, a verification) again, on a new connection, when the
        connection died under it; bounded by the backoff's attempts. Other failures pass through."""
        for n in self.retry.tries():
            try:
                return work()
            except SSHError as e:
                if n == self.retry.attempts or (self.alive and not isinstance(e, TransientSSHError)):
                    raise
            if not self.alive:
                self.reconnect()
        raise AssertionError("unreachable")  # tries() yields `attempts` times

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 120.0) -> Result:
        """Run `command` (a shell command line without secrets); `stdin` carries anything secret."""
        chan = self._channel("run a command", timeout, lambda ch: ch.exec_command(command))
        try:
            self.exec_channels += 1
            chan.settimeout(timeout)
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
            raise self._lost(f"failed: {e}") from None

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            chan = self._channel("open SFTP", CONNECT_TIMEOUT, lambda ch: ch.invoke_subsystem("sftp"))
            try:
                self._sftp = paramiko.SFTPClient(chan)
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise self._lost(f"failed while SFTP started: {e}") from None
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
    lookup = target.host_key_alias or target.hostname
    files = [*target.global_known_hosts, *target.user_known_hosts]
    known = read_known_hosts(files, lookup, target.port, strict=frozenset(target.user_known_hosts))
    for name, keys in known.keys.items():
        for key in keys.values():
            client.get_host_keys().add(name, key.get_name(), key)
    if ui is not None:
        for note in known.notes:
            ui.explain(note)
    policy = ConfirmOrReject(target, ui, trusted, bastion, known=known)
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
            transport_factory=aead_first,
        )
        return client
    except paramiko.BadHostKeyException as e:
        client.close()
        refuse_revoked(_policy.known, e.key, target.display)
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
        raise (TransientSSHError if transient(e) else SSHError)(
            f"SSH to {target.display} failed: {e or type(e).__name__}.",
            "Check that it is an SSH server and that you can reach it (`ssh` to it by hand).",
            exit_code=Exit.NETWORK,
        ) from None
    finally:
        auth.close()


def _login_all(
    target: Target, ui: UI | None, trust_host_key: str
) -> tuple[paramiko.SSHClient, list[paramiko.SSHClient]]:
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
    return client, hops


def _login_retrying(
    target: Target, ui: UI | None, trust_host_key: str, retry: Backoff
) -> tuple[paramiko.SSHClient, list[paramiko.SSHClient]]:
    """A connection dropped before login (sshd's MaxStartups when a room connects at once, a reset) is
    tried again with backoff; a refused login or host key never is."""
    for n in retry.tries():
        try:
            return _login_all(target, ui, trust_host_key)
        except TransientSSHError as e:
            if n == 1 and ui is not None:  # once: the wait is not a hang
                ui.explain(
                    f"{target.display} dropped the connection before login ({e.message.rstrip('.')}); "
                    f"it may be busy: onboard tries again for up to {retry.budget:.0f} s."
                )
            if n == retry.attempts:
                raise SSHError(
                    f"{target.display} kept dropping the connection before login for {retry.budget:.0f} s "
                    f"({e.message.rstrip('.')}). The host is busy, or limits new connections (MaxStartups).",
                    "Run again in a minute (`onboard resume`); nothing was lost.",
                    exit_code=Exit.NETWORK,
                ) from None
    raise AssertionError("unreachable")  # tries() yields `attempts` times


def connect(
    target: Target, ui: UI | None, *, trust_host_key: str = "", retry: Backoff = DEFAULT_BACKOFF
) -> Connection:
    """Log in (through each bastion of ProxyJump in turn).
    `trust_host_key` applies to the submit host only."""
    client, hops = _login_retrying(target, ui, trust_host_key, retry)
    return Connection(
        target,
        client,
        hops,
        reopen=lambda: _login_retrying(target, ui, trust_host_key, retry),
        retry=retry,
        ui=ui,
    )


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
