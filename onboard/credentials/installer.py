"""Install a loaded credential as files: cert/chain/key/package/request-<n> plus usercert/userkey links."""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from onboard.credentials import files
from onboard.credentials.model import Credential


@dataclass
class Installed:
    name: str
    dest: Path
    cert: Path
    key: Path
    package: Path
    chain: Path | None = None
    csr: Path | None = None
    links: list[Path] = field(default_factory=list)
    backups: list[tuple[Path, Path]] = field(default_factory=list)  # (original, backup)
    created_dest: bool = False
    unchanged: bool = False  # the same certificate was already installed there: nothing was written

    def written(self) -> list[Path]:
        return [p for p in (self.cert, self.chain, self.key, self.package, self.csr) if p] + self.links


def paths_for(dest: Path, name: str) -> dict[str, Path]:
    return {
        "cert": dest / f"cert-{name}.pem",
        "chain": dest / f"chain-{name}.pem",
        "key": dest / f"key-{name}.pem",
        "package": dest / f"package-{name}.p12",
        "csr": dest / f"request-{name}.pem",
    }


def already_installed(cred: Credential, dest: Path, name: str, *, links: bool) -> bool:
    """True when cert-<n>.pem holds this very certificate and its key and package are there too."""
    p = paths_for(dest, name)
    try:
        current = x509.load_pem_x509_certificate(p["cert"].read_bytes())
    except (OSError, ValueError):
        return False
    if current != cred.cert or not p["key"].is_file() or not p["package"].is_file():
        return False
    if links:
        for link, target in (("usercert.pem", p["cert"].name), ("userkey.pem", p["key"].name)):
            if not (dest / link).is_symlink() or os.readlink(dest / link) != target:
                return False
    return True


def install(
    cred: Credential,
    dest: Path,
    *,
    key_passphrase: str,
    name: str,
    now: datetime,
    csr: bool = False,
    links: bool = True,
    force: bool = False,
    backup_prefix: str = "backup",
) -> Installed:
    """Write every file, or none. Existing files are moved to backup.<stamp>.<name> first."""
    dest = Path(dest).expanduser()
    p = paths_for(dest, name)
    result = Installed(
        name=name,
        dest=dest,
        cert=p["cert"],
        key=p["key"],
        package=p["package"],
        chain=p["chain"] if cred.chain else None,
        csr=p["csr"] if csr else None,
    )
    if links:
        result.links = [dest / "usercert.pem", dest / "userkey.pem"]
    if (
        not force
        and dest.is_dir()
        and already_installed(cred, dest, name, links=links)
        and (not csr or p["csr"].is_file())
    ):
        result.unchanged = True
        return result
    # everything that needs the key is computed before the first byte goes to disk
    contents = [(p["cert"].name, cred.cert_pem(), files.CERT_MODE)]
    if cred.chain:
        contents.append((p["chain"].name, cred.chain_pem(), files.CERT_MODE))
    contents.append((p["key"].name, cred.key_pem(key_passphrase), files.KEY_MODE))
    contents.append((p["package"].name, cred.package_p12(key_passphrase), files.P12_MODE))
    if csr:
        contents.append((p["csr"].name, cred.csr_pem(), files.CERT_MODE))
    if not force:
        # an install cut short (kill -9, power loss) left some of these very files in place: they are kept
        # as they are (rewriting them would move our own files to a backup) and only the rest is written
        kinds = {p[k].name: k for k in p}
        contents = [
            (fname, data, mode)
            for fname, data, mode in contents
            if not holds_already(dest / fname, kinds[fname], mode, cred, key_passphrase, data)
        ]
    result.created_dest = files.ensure_dest(dest)
    files.remove_stale(dest)  # the temporary files of a transaction that was killed
    stamp = now.astimezone().strftime("%Y%m%d-%H%M%S")
    try:
        with files.Transaction(dest, stamp, backup_prefix) as tx:
            for fname, data, mode in contents:
                tx.write(fname, data, mode)
            if not cred.chain and contents and p["chain"].exists():
                tx.retire(p["chain"].name)  # the chain of the certificate this one replaces: not its chain
            if links:
                # relative: the directory may move or be mounted elsewhere
                # (a link already right to a file kept as it was is left alone, like that file)
                written = {c[0] for c in contents}
                for link, target in (("usercert.pem", p["cert"].name), ("userkey.pem", p["key"].name)):
                    right = os.path.islink(dest / link) and os.readlink(dest / link) == target
                    if force or target in written or not right:
                        tx.link(link, target)
            tx.commit()
            result.backups = list(tx.backups)
    except BaseException:
        if result.created_dest:
            with contextlib.suppress(OSError):
                dest.rmdir()
        raise
    return result


def holds_already(
    path: Path, kind: str, mode: int, cred: Credential, key_passphrase: str, data: bytes
) -> bool:
    """`path` is a regular file with `mode` holding this very part of `cred` (`data`, or for the key and
    the package: the same key and certificates under `key_passphrase`; their encryption is salted)."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode:
            return False
        current = path.read_bytes()
    except OSError:
        return False
    if current == data:
        return True
    if kind not in ("key", "package"):
        return False
    from cryptography.hazmat.primitives.serialization import pkcs12

    from onboard.credentials.model import public_key_der

    want = public_key_der(cred.cert.public_key())
    try:
        if kind == "key":
            key = serialization.load_pem_private_key(current, key_passphrase.encode("utf-8"))
            return public_key_der(key.public_key()) == want
        bundle = pkcs12.load_pkcs12(current, key_passphrase.encode("utf-8"))
    except (ValueError, TypeError):
        return False
    return (
        bundle.key is not None
        and bundle.cert is not None
        and bundle.cert.certificate == cred.cert
        and public_key_der(bundle.key.public_key()) == want
        and [c.certificate for c in bundle.additional_certs] == list(cred.chain)
    )


def read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
