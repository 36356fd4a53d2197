"""Browsers and mail clients: the certificate into Firefox's and Thunderbird's NSS databases, and back out.

Firefox and Thunderbird keep certificates and keys in an NSS database in each profile (cert9.db and
key4.db); on Linux, Chrome and Chromium use one in ~/.pki/nssdb. onboard drives NSS's own `pk12util`
and `certutil` on them. The guides insist that such a database be protected by a primary password
(once called the master password) before a personal key goes in, so an import into a database without
one is refused, with how to set it. Passwords go to the tools through pipes named /dev/fd/N (`-k`,
`-w`, `-f`), never on a command line and never in a file on disk.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onboard import secret_pipes
from onboard.errors import Exit, OnboardError


class BrowserError(OnboardError):
    exit_code = Exit.BROWSER


NSS_HINT = ("Install NSS's tools: libnss3-tools (Debian/Ubuntu), nss-tools (Fedora/RHEL/Alma), "
            "`brew install nss` (macOS).")


@dataclass
class Profile:
    app: str  # Firefox, Thunderbird, Chrome/Chromium
    name: str
    path: Path

    @property
    def db(self) -> str:
        return f"sql:{self.path}" if (self.path / "cert9.db").exists() else f"dbm:{self.path}"

    def label(self) -> str:
        return f"{self.app} profile '{self.name}' ({self.path})"

    def running(self) -> bool:
        """Firefox/Thunderbird hold a lock link in the profile while they run."""
        return any((self.path / n).is_symlink() or (self.path / n).exists() for n in ("lock", ".parentlock"))


def _roots(home: Path) -> list[tuple[str, Path]]:
    appdata = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
    lib = home / "Library"
    return [
        ("Firefox", home / ".mozilla" / "firefox"),
        ("Firefox", home / "snap" / "firefox" / "common" / ".mozilla" / "firefox"),
        ("Firefox", home / ".var" / "app" / "org.mozilla.firefox" / ".mozilla" / "firefox"),
        ("Firefox", lib / "Application Support" / "Firefox"),
        ("Firefox", appdata / "Mozilla" / "Firefox"),
        ("Thunderbird", home / ".thunderbird"),
        ("Thunderbird", home / "snap" / "thunderbird" / "common" / ".thunderbird"),
        ("Thunderbird", home / ".var" / "app" / "org.mozilla.Thunderbird" / ".thunderbird"),
        ("Thunderbird", lib / "Thunderbird"),
        ("Thunderbird", appdata / "Thunderbird"),
    ]


def _is_db(path: Path) -> bool:
    return (path / "cert9.db").exists() or (path / "cert8.db").exists()


def find_profiles(home: Path | None = None) -> list[Profile]:
    """Every NSS database of the user's Firefox and Thunderbird profiles (and Chromium's on Linux)."""
    home = Path(home or os.environ.get("HOME") or Path.home())
    found: dict[Path, Profile] = {}
    for app, root in _roots(home):
        if not root.is_dir():
            continue
        ini = root / "profiles.ini"
        if ini.is_file():
            parser = configparser.RawConfigParser()
            try:
                parser.read(ini, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                parser = configparser.RawConfigParser()
            for section in parser.sections():
                if not section.startswith("Profile") or not parser.has_option(section, "Path"):
                    continue
                rel = parser.get(section, "IsRelative", fallback="1") == "1"
                path = (root / parser.get(section, "Path")) if rel else Path(parser.get(section, "Path"))
                if _is_db(path):
                    label = parser.get(section, "Name", fallback=path.name)
                    found.setdefault(path.resolve(), Profile(app, label, path))
        for sub in (root, root / "Profiles"):
            if not sub.is_dir():
                continue
            for path in sorted(sub.iterdir()):
                if path.is_dir() and _is_db(path):
                    found.setdefault(path.resolve(), Profile(app, path.name, path))
    pki = home / ".pki" / "nssdb"
    if sys.platform.startswith("linux") and _is_db(pki):
        found.setdefault(pki.resolve(), Profile("Chrome/Chromium", "nssdb", pki))
    return list(found.values())


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BrowserError(f"NSS's {name} is not installed.", NSS_HINT)
    return path


def secret_fds(*secrets: str):
    return secret_pipes.secret_fds(*secrets, error=BrowserError)


def _run(args: list[str], fds: list[str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    pass_fds = secret_pipes.fd_numbers(fds or [])
    try:
        return subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
                              pass_fds=pass_fds, check=False)
    except subprocess.TimeoutExpired:
        raise BrowserError(f"{Path(args[0]).name} did not finish within {int(timeout)} s.",
                           "Close the browser and try again.") from None


def has_primary_password(profile: Profile) -> bool:
    """Whether the profile's key database asks for a password (NSS: the token needs a login).

    With an empty password file, certutil lists the keys of a database without a password, and fails
    with SEC_ERROR_BAD_PASSWORD on one that has a password."""
    with secret_fds("") as (empty,):
        proc = _run([tool("certutil"), "-K", "-d", profile.db, "-f", empty], [empty])
    out = proc.stdout + proc.stderr
    if "SEC_ERROR_BAD_PASSWORD" in out or "could not authenticate" in out:
        return True
    if "SEC_ERROR_BAD_DATABASE" in out or "SEC_ERROR_LEGACY_DATABASE" in out:
        raise BrowserError(f"{profile.label()}: NSS cannot open its certificate database.",
                           "Start the browser once so that it upgrades the profile, then try again.")
    return False


def set_password_steps(profile: Profile) -> list[str]:
    if profile.app == "Thunderbird":
        where = "Thunderbird: Settings → Privacy & Security → Passwords → \"Use a Primary Password\""
    elif profile.app == "Firefox":
        where = "Firefox: Settings (about:preferences#privacy) → Privacy & Security → Passwords → " \
                "\"Use a Primary Password\""
    elif profile.app == "Chrome/Chromium":
        where = "Chrome/Chromium has no setting for it"
    else:
        where = ("in Firefox or Thunderbird: Settings → Privacy & Security → Passwords → "
                 "\"Use a Primary Password\"")
    return [where + ";",
            f"or, with the program closed: certutil -W -d {profile.db}"]


def user_certs(profile: Profile) -> list[str]:
    """Nicknames of the certificates that have their own key in the profile (trust flags 'u')."""
    proc = _run([tool("certutil"), "-L", "-d", profile.db])
    names = []
    for line in proc.stdout.splitlines():
        parts = line.rstrip().rsplit(None, 1)
        if len(parts) == 2 and parts[1].count(",") == 2 and "u" in parts[1]:
            names.append(parts[0].strip())
    return names


def _pk12_error(profile: Profile, proc: subprocess.CompletedProcess, action: str) -> BrowserError:
    out = (proc.stdout + proc.stderr).strip()
    if "Failed to authenticate" in out or "could not authenticate" in out.lower():
        return BrowserError(f"{profile.label()}: the primary password is not right.",
                            "Type the password the browser asks for when it starts using certificates.")
    if "PKCS12 decode" in out or "SEC_ERROR_BAD_PASSWORD" in out:
        return BrowserError(f"{action}: the certificate file's passphrase is not right.",
                            "Give the passphrase of the .p12 (the one chosen at the CA or at conversion).",
                            exit_code=Exit.WRONG_PASSPHRASE)
    last = out.splitlines()[-1] if out else f"exit {proc.returncode}"
    return BrowserError(f"{action} into {profile.label()} failed: {last}",
                        "Run the same with --debug for details.")


def import_p12(profile: Profile, p12: Path, passphrase: str, db_password: str) -> None:
    with secret_fds(db_password, passphrase) as (k, w):
        proc = _run([tool("pk12util"), "-i", str(p12), "-d", profile.db, "-k", k, "-w", w], [k, w])
    if proc.returncode != 0 or "SUCCESSFUL" not in proc.stdout + proc.stderr:
        raise _pk12_error(profile, proc, f"importing {p12.name}")


def export_p12(profile: Profile, nickname: str, out: Path, db_password: str, new_passphrase: str) -> None:
    """Export one certificate with its key into `out`, a new file created 0600 before NSS writes to it."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    os.close(fd)
    try:
        with secret_fds(db_password, new_passphrase) as (k, w):
            argv = [tool("pk12util"), "-o", str(out), "-n", nickname, "-d", profile.db, "-k", k, "-w", w]
            proc = _run(argv, [k, w])
        if proc.returncode != 0 or "SUCCESSFUL" not in proc.stdout + proc.stderr:
            raise _pk12_error(profile, proc, f"exporting '{nickname}'")
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def os_store_steps(platform: str | None = None) -> list[str]:
    """Browsers that use the operating system's certificate store: Chrome, Edge, Safari (the TCS guide)."""
    plat = platform or sys.platform
    if plat == "darwin":
        return [
            "Safari, Chrome and Edge on macOS use the Keychain:",
            "  1. Double-click the package-<name>.p12 file (or: Keychain Access → File → Import Items).",
            "  2. Choose the \"login\" keychain.",
            "  3. Type the certificate's passphrase (the one of the .p12).",
            "  4. Check it under My Certificates: your name, with the key beneath it.",
        ]
    if plat.startswith("win"):
        return [
            "Chrome and Edge on Windows use the Windows certificate store:",
            "  1. Double-click the package-<name>.p12 file: the Certificate Import Wizard starts.",
            "  2. Store location: Current User.",
            "  3. Type the certificate's passphrase; tick \"Enable strong private key protection\" "
            "(the guide says you must).",
            "  4. Let Windows choose the store (Personal) and finish; allow the \"Protected Item\" with OK.",
        ]
    return [
        "Chrome and Chromium on Linux use the NSS database in ~/.pki/nssdb: `onboard browser-import` "
        "handles it like a Firefox profile (it needs a password too: certutil -W -d sql:$HOME/.pki/nssdb).",
    ]


# -- the CA a VO's web site needs ------------------------------------------------------------------------
# The OSG guide's "Installing Certifying Authority certificates into a web browser": a VO's registration
# site usually has a grid (IGTF) host certificate, which browsers do not trust by themselves. onboard
# reads the site's certificate over TLS verified against the grid trust directory, and gives the browser
# just the CAs of that chain (the root trusted for web sites, "C,,"), not the whole IGTF bundle.

def site_cas(url: str, trust_dir: Path, timeout: float = 15.0) -> list[Any]:
    """The CA certificates from `trust_dir` above the certificate of the site at `url`, root last."""
    import socket
    import ssl
    from urllib.parse import urlsplit

    from cryptography import x509

    from onboard.pki import trustdirs

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    tls = ssl.create_default_context(capath=str(trust_dir))  # verified: never a CA from an unchecked answer
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                tls.wrap_socket(raw, server_hostname=host) as conn:
            der = conn.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as e:
        raise BrowserError(f"the certificate of {host}:{port} could not be read and verified against "
                           f"{trust_dir}: {e}.",
                           "Check `onboard trust`; the browser needs that site's CA (import it by hand).",
                           ) from None
    chain: list[Any] = []
    cert = x509.load_der_x509_certificate(der)
    for _ in range(8):  # an issuer chain longer than that is not a real one
        ca = trustdirs.find_issuer(cert, trust_dir)
        if ca is None or ca in chain:
            break
        chain.append(ca)
        if ca.subject == ca.issuer:
            break
        cert = ca
    return chain


def _decided(profile: Profile) -> set[bytes]:
    """The certificates (DER) in the profile that carry the user's own web-site trust decision: trusted
    (C, T) or distrusted (p). A CA a .p12 brought along has none (",,"); 'u' only says a key is there."""
    import re

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    out: set[bytes] = set()
    for line in _run([tool("certutil"), "-L", "-d", profile.db]).stdout.splitlines():
        parts = line.rstrip().rsplit(None, 1)
        if len(parts) != 2 or parts[1].count(",") != 2 or not parts[1].split(",")[0].strip("u"):
            continue
        pem = _run([tool("certutil"), "-L", "-d", profile.db, "-n", parts[0].strip(), "-a"]).stdout
        for block in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S):
            try:
                out.add(x509.load_pem_x509_certificate(block.encode()).public_bytes(serialization.Encoding.DER))
            except ValueError:
                continue
    return out


def trust_cas(profile: Profile, cas: list[Any], db_password: str) -> list[str]:
    """Add `cas` to the profile: the root trusted for web sites, the others as known intermediates.
    Returns the nicknames added (a CA the user trusted or distrusted already keeps that decision)."""
    import tempfile

    from cryptography.hazmat.primitives import serialization

    from onboard.pki.names import oneline

    decided = _decided(profile)
    added = []
    for ca in cas:
        nickname = oneline(ca.subject).rsplit("CN=", 1)[-1] or oneline(ca.subject)
        if ca.public_bytes(serialization.Encoding.DER) in decided:
            continue
        root = ca.subject == ca.issuer
        with tempfile.NamedTemporaryFile(suffix=".pem") as f:  # a public certificate: no secret on disk
            f.write(ca.public_bytes(serialization.Encoding.PEM))
            f.flush()
            with secret_fds(db_password) as (pw,):
                proc = _run([tool("certutil"), "-A", "-d", profile.db, "-n", nickname, "-t",
                             "C,," if root else ",,", "-i", f.name, "-f", pw], [pw])
        if proc.returncode != 0:
            last = (proc.stdout + proc.stderr).strip().splitlines()
            raise BrowserError(f"adding the CA '{nickname}' to {profile.label()} failed: "
                               f"{last[-1] if last else proc.returncode}", "Run the same with --debug.")
        added.append(nickname)
    return added
