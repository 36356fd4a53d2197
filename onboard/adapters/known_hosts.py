"""Host keys: an unknown key is accepted only on explicit confirmation (a yes at the prompt, or
`--trust-host-key SHA256:...` / `submit_host.trust_host_key` naming exactly that key), then appended to the
user's known_hosts; a key that differs from the known one is refused by paramiko's RejectPolicy.

known_hosts files are read here, as OpenSSH reads them (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), not by
paramiko, which stops with an exception at the first line it does not understand: host patterns with `*`,
`?` and `!`, hashed names, `[host]:port`; `@revoked` keys are never accepted for the hosts they name, even
where another line lists them; `@cert-authority` lines (host certificates, which onboard does not check)
and lines OpenSSH would skip are skipped with a note instead of stopping the delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from onboard.errors import Exit, SSHError

if TYPE_CHECKING:
    from onboard.adapters.ssh_target import Target
    from onboard.ui import UI


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256: and the unpadded base64 of the SHA-256 of the public key blob."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass
class KnownHosts:
    """The keys known for one host name, read from known_hosts files."""

    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)  # what paramiko checks against
    revoked: dict[bytes, str] = field(default_factory=dict)  # key blob -> "file:line" of its @revoked line
    notes: list[str] = field(default_factory=list)  # lines skipped, and why

    def revoked_at(self, key: paramiko.PKey) -> str:
        return self.revoked.get(key.asbytes(), "")


def host_name(host: str, port: int) -> str:
    """The name known_hosts files the host under: `host`, or `[host]:port` off port 22."""
    return host.lower() if port == 22 else f"[{host.lower()}]:{port}"


def read_known_hosts(files: list[Path], host: str, port: int, *, strict: frozenset[Path]) -> KnownHosts:
    """The keys these files give for `host` at `port`. A file that cannot be read is an error when it is
    in `strict` (the user's own files) and skipped otherwise (the system's)."""
    name = host_name(host, port)
    known = KnownHosts()
    plain: list[tuple[str, paramiko.PKey]] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        except OSError as e:
            if path in strict:
                raise SSHError(f"{path}: cannot be read ({e.strerror}).",
                               "Fix or move that known_hosts file.", exit_code=Exit.CONFIG) from None
            continue
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path}:{number}"
            entry = _parse_line(line, where, known.notes)
            if entry is None:
                continue
            marker, patterns, key = entry
            if not hosts_match(patterns, name):
                continue
            if marker == "@revoked":
                known.revoked[key.asbytes()] = where
            elif marker == "@cert-authority":
                known.notes.append(f"{where}: @cert-authority (host certificates) is not used by onboard; "
                                   "the host's own key must be known or confirmed")
            elif marker:
                known.notes.append(f"{where}: unknown marker {marker}, line skipped (as OpenSSH does)")
            else:
                plain.append((where, key))
    for _where, key in plain:
        if key.asbytes() not in known.revoked:  # revoked wins over any line that lists the key
            known.keys.add(name, key.get_name(), key)
    return known


# what paramiko and base64 raise for a key blob they cannot make a key of
_UNREADABLE_KEY = (
    binascii.Error, ValueError, TypeError, IndexError, paramiko.SSHException, paramiko.UnknownKeyType
)


def _parse_line(line: str, where: str, notes: list[str]) -> tuple[str, str, paramiko.PKey] | None:
    """(marker, host patterns, key) of one line; None for blanks, comments and lines OpenSSH skips."""
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = fields.pop(0) if fields[0].startswith("@") else ""
    if len(fields) < 3:
        notes.append(f"{where}: not a known_hosts line, skipped")
        return None
    patterns, key_type, blob = fields[:3]
    try:
        key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except _UNREADABLE_KEY:
        notes.append(f"{where}: a {key_type[:40]} key onboard cannot read, line skipped")
        return None
    return marker, patterns, key


def hosts_match(patterns: str, name: str) -> bool:
    """OpenSSH's match_hostname: any pattern matches and no negated one does; hashed names compared by
    their HMAC; `*` and `?` are the only wildcards."""
    if patterns.startswith("|1|"):
        return _hashed_match(patterns, name)
    matched = False
    for pattern in patterns.lower().split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if _wildcard_match(pattern, name):
            if negated:
                return False
            matched = True
    return matched


def _wildcard_match(pattern: str, name: str) -> bool:
    """`*` any run of characters, `?` one; everything else, brackets of `[host]:port` too, literal.
    Linear in the lengths whatever the pattern (a regex of many `*` backtracks without end: found by
    fuzzing): on a mismatch, only the last `*` takes one more character."""
    p = n = 0
    star, resume = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] in ("?", name[n]):
            p, n = p + 1, n + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume = p, n
            p += 1
        elif star >= 0:
            resume += 1
            p, n = star + 1, resume
        else:
            return False
    return pattern[p:].strip("*") == ""


def _hashed_match(field_: str, name: str) -> bool:
    try:
        _, _, salt, digest = field_.split("|")
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except (ValueError, binascii.Error):
        return False


class ConfirmOrReject(paramiko.RejectPolicy):
    """RejectPolicy, except for a key the user explicitly accepts (flag with its fingerprint, or a yes)."""

    def __init__(self, target: Target, ui: UI | None, trusted: str = "", bastion: bool = False,
                 known: KnownHosts | None = None):
        self.target = target
        self.known = known or KnownHosts()
        self.bastion = bastion  # --trust-host-key names the submit host's key, never a bastion's
        self.ui = ui
        self.trusted = trusted.strip()
        self.accepted: str = ""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fp = fingerprint(key)
        where = self.target.display
        refuse_revoked(self.known, key, where)
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


def refuse_revoked(known: KnownHosts, key: paramiko.PKey, where: str) -> None:
    """A key marked @revoked is never accepted: no prompt, no --trust-host-key."""
    line = known.revoked_at(key)
    if line:
        raise SSHError(
            f"the host key of {where} ({fingerprint(key)}) is REVOKED in {line}; not connecting.",
            "Someone may be impersonating the host, or it still offers a key its administrators withdrew: "
            "ask them.",
            exit_code=Exit.HOST_KEY_REVOKED,
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
