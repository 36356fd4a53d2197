"""Checking and installing an IGTF trust-anchor tarball (`onboard trust --install`), and how to get one.

Every member of the tarball is checked before anything is written (a CA certificate, its `<hash>.N` name
right, no path or link that leads outside); the new directory is built beside the old one, each file
written whole and fsynced, and swapped in, the old directory kept as a timestamped backup.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from onboard.atomicfile import fsync_dir, write_new
from onboard.pki import names
from onboard.pki.tarball import MAX_COMPRESSED, TarballError, members
from onboard.pki.trustdirs import TrustError, candidates

IGTF_DIST = "https://dist.igtf.net/distribution/current/accredited/"
EGI_REPO = "https://repository.egi.eu/sw/production/cas/1/current"


def install_target(configured: str | Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """Where `install` puts a bundle by default: the configured or X509_CERT_DIR one, else ~/.globus."""
    found = candidates(configured, environ)
    for c in found:
        if c.why in ("config trust.cert_dir", "X509_CERT_DIR"):
            return c.path
    return found[-2].path


def how_to_get(platform: str | None = None) -> list[str]:
    """How to install the IGTF trust anchors on this kind of system, as commands and sentences."""
    plat = platform or _platform()
    if plat == "debian":
        return [
            "Install the IGTF bundle from EGI's repository (as root):",
            "  curl -fsSL https://dist.eugridpma.info/distribution/igtf/current/GPG-KEY-EUGridPMA-RPM-3 | "
            "gpg --dearmor -o /usr/share/keyrings/eugridpma.gpg",
            f"  echo 'deb [signed-by=/usr/share/keyrings/eugridpma.gpg] {EGI_REPO} egi-igtf core' "
            "> /etc/apt/sources.list.d/egi-igtf.list",
            "  apt-get update && apt-get install ca-policy-egi-core",
            "It fills /etc/grid-security/certificates and keeps it current.",
            "Without root: download igtf-preinstalled-bundle-classic-<version>.tar.gz from "
            f"{IGTF_DIST} and run `onboard trust --install FILE` (it goes to ~/.globus/certificates).",
        ]
    if plat == "redhat":
        return [
            "Install the IGTF bundle from EGI's repository (as root):",
            f"  curl -fsSL -o /etc/yum.repos.d/EGI-trustanchors.repo "
            f"{EGI_REPO}/repo-files/EGI-trustanchors.repo",
            "  dnf install ca-policy-egi-core        (on OSG sites: dnf install osg-ca-certs)",
            "It fills /etc/grid-security/certificates and keeps it current.",
            "Without root: download igtf-preinstalled-bundle-classic-<version>.tar.gz from "
            f"{IGTF_DIST} and run `onboard trust --install FILE` (it goes to ~/.globus/certificates).",
        ]
    return [
        f"Download igtf-preinstalled-bundle-classic-<version>.tar.gz from {IGTF_DIST}",
        "(check it against the .sha256 file next to it), then run:",
        "  onboard trust --install igtf-preinstalled-bundle-classic-<version>.tar.gz --sha256 <that sum>",
        "It is checked file by file and installed in ~/.globus/certificates, where grid tools look.",
    ]


def _platform() -> str:
    if sys.platform == "darwin":
        return "macos"
    if Path("/etc/debian_version").exists():
        return "debian"
    if Path("/etc/redhat-release").exists() or Path("/etc/fedora-release").exists():
        return "redhat"
    return "other"


_HASHED = re.compile(r"^[0-9a-f]{8}\.(\d|r\d)$")
_META = (".signing_policy", ".namespaces", ".info", ".crl_url")
_CERT_SUFFIXES = (".pem", ".crt", ".der")


@dataclass
class Bundle:
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content (regular files)
    links: dict[str, str] = field(default_factory=dict)  # name -> target name (same directory)
    cas: dict[str, str] = field(default_factory=dict)  # name -> subject DN
    hashes: dict[str, str] = field(default_factory=dict)  # name -> subject hash
    skipped: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


def _fail(tarball: Path, what: str) -> TrustError:
    return TrustError(
        f"{tarball}: {what}; nothing was installed.",
        "Download the bundle again from " + IGTF_DIST + " and check its checksum.",
    )


def read_bundle(tarball: Path, sha256: str | None = None) -> Bundle:
    """Read and check every member of a trust-anchor tarball; raise TrustError on anything wrong."""
    try:
        if tarball.stat().st_size > MAX_COMPRESSED:
            raise _fail(tarball, f"it is {tarball.stat().st_size >> 20} MiB, more than a trust bundle can be")
        raw = tarball.read_bytes()
    except OSError as e:
        raise TrustError(
            f"{tarball}: cannot be read ({e.strerror}).", "Give the path of the downloaded tarball."
        ) from None
    if sha256:
        digest = hashlib.sha256(raw).hexdigest()
        if digest.lower() != sha256.strip().lower().split()[0]:
            raise _fail(tarball, f"SHA-256 is {digest}, not the one given")
    try:
        found = members(raw)
    except TarballError as e:
        raise _fail(tarball, str(e)) from None
    bundle = Bundle()
    names_ = [m.info.name for m in found if not m.info.isdir()]
    tops = {n.split("/", 1)[0] for n in names_ if "/" in n}
    strip = tops.pop() + "/" if len(tops) == 1 and all("/" in n for n in names_) else ""
    for member in found:
        m = member.info
        if m.name.startswith("/") or ".." in m.name.split("/"):
            raise _fail(tarball, f"member {m.name!r} points outside the directory")
        if m.isdir():
            continue
        rel = m.name[len(strip) :] if strip and m.name.startswith(strip) else m.name
        if "/" in rel:
            bundle.skipped.append(m.name)
            continue
        if not (m.isfile() or m.issym()):
            raise _fail(tarball, f"member {m.name!r} is not a regular file or a link")
        known = _HASHED.match(rel) or rel.endswith(_CERT_SUFFIXES + _META) or rel.endswith(".crl")
        if not known:
            bundle.skipped.append(m.name)
            continue
        if rel in bundle.files or rel in bundle.links:  # tar lets a later member replace an earlier one
            raise _fail(tarball, f"{rel!r} appears twice")
        if m.issym():
            if "/" in m.linkname or m.linkname in ("", ".", ".."):
                raise _fail(tarball, f"link {m.name!r} points outside the directory")
            bundle.links[rel] = m.linkname
            continue
        bundle.files[rel] = member.data or b""
    # every link must resolve inside the bundle, to a file, without going round in a circle
    for name in bundle.links:
        _resolve(tarball, bundle, name)
    _check_certs(tarball, bundle)
    return bundle


def _resolve(tarball: Path, bundle: Bundle, name: str) -> str:
    """The file a link leads to (through other links)."""
    seen = [name]
    while name in bundle.links:
        name = bundle.links[name]
        if name in seen:
            raise _fail(tarball, f"links go round in a circle ({' -> '.join([*seen, name])})")
        seen.append(name)
    if name not in bundle.files:
        raise _fail(tarball, f"link {seen[0]!r} points to {name!r}, which is not in the bundle")
    return name


def _content(tarball: Path, bundle: Bundle, name: str) -> bytes:
    return bundle.files[_resolve(tarball, bundle, name)]


def _shown(name) -> str:
    return names.readable(names.oneline(name))


def _check_certs(tarball: Path, bundle: Bundle) -> None:
    from cryptography import x509

    now = datetime.now(timezone.utc)
    for name in sorted(set(bundle.files) | set(bundle.links)):
        is_cert = re.fullmatch(r"[0-9a-f]{8}\.\d", name) or name.endswith(_CERT_SUFFIXES)
        if not is_cert:
            continue
        data = _content(tarball, bundle, name)
        try:
            _check_cert(tarball, bundle, name, data, now)
        # what cryptography says of a certificate it cannot read in full: a bad encoding (ValueError), a
        # name attribute of the wrong ASN.1 type (TypeError), an extension twice, an unknown version
        except (ValueError, TypeError, x509.DuplicateExtension, x509.InvalidVersion,
                x509.UnsupportedGeneralNameType):
            raise _fail(tarball, f"{name} is not a certificate onboard can read (damaged?)") from None
    if not bundle.cas:
        raise _fail(tarball, "holds no CA certificate")


def _check_cert(tarball: Path, bundle: Bundle, name: str, data: bytes, now: datetime) -> None:
    """One CA file: a CA certificate, its <hash>.N name right; recorded in the bundle."""
    from cryptography import x509

    pem = b"-----BEGIN" in data
    cert = x509.load_pem_x509_certificate(data) if pem else x509.load_der_x509_certificate(data)
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = cert.issuer == cert.subject  # an old self-signed root without the extension
    if not is_ca:
        raise _fail(tarball, f"{name} is not a CA certificate ({_shown(cert.subject)})")
    if re.fullmatch(r"[0-9a-f]{8}\.\d", name) and name[:8] != names.subject_hash(cert.subject):
        raise _fail(
            tarball, f"{name} holds {_shown(cert.subject)}, whose hash is {names.subject_hash(cert.subject)}"
        )
    if cert.not_valid_after_utc < now:
        bundle.expired.append(name)
    bundle.cas[name] = names.oneline(cert.subject)
    bundle.hashes[name] = names.subject_hash(cert.subject)


@dataclass
class Installed:
    directory: Path
    cas: int
    backup: Path | None
    skipped: list[str]
    expired: list[str]


def install(tarball: Path, dest: Path, *, sha256: str | None = None) -> Installed:
    """Check the tarball, then put its CA files in `dest`: built beside it and swapped in, any existing
    directory kept as a timestamped backup. Hash links missing from the bundle are added."""
    bundle = read_bundle(tarball, sha256)
    dest = dest.expanduser()
    made_parent = not dest.parent.exists()
    if made_parent:  # ~/.globus, most often: private, as grid tools make it
        dest.parent.mkdir(parents=True, mode=0o700)
        os.chmod(dest.parent, 0o700)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o755)  # trust anchors are public; grid tools of other users may read them
        for name, data in bundle.files.items():
            write_new(tmp / name, data, 0o644)
        for name, target in bundle.links.items():
            os.symlink(target, tmp / name)
        # c_rehash's job, for bundles that ship only NAME.pem: add <hash>.N links
        present = {n for n in bundle.files} | set(bundle.links)
        for name in list(bundle.cas):
            if re.fullmatch(r"[0-9a-f]{8}\.\d", name):
                continue
            h = bundle.hashes[name]
            if not any(p.startswith(h + ".") and bundle.cas.get(p) == bundle.cas[name] for p in present):
                i = 0
                while f"{h}.{i}" in present:
                    i += 1
                os.symlink(name, tmp / f"{h}.{i}")
                present.add(f"{h}.{i}")
        fsync_dir(tmp)
        backup = None
        if dest.exists() or dest.is_symlink():
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            backup = dest.with_name(f"{dest.name}.backup.{stamp}")
            n = 1
            while backup.exists():
                backup = dest.with_name(f"{dest.name}.backup.{stamp}-{n}")
                n += 1
            os.rename(dest, backup)
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if made_parent:
            shutil.rmtree(dest.parent, ignore_errors=True)
        raise
    return Installed(dest, len({v for v in bundle.cas.values()}), backup, bundle.skipped, bundle.expired)
