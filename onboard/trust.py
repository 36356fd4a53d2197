"""Grid trust anchors: which CA directory is in use, whether it holds a needed CA, and how to get the rest.

The directory is looked for where the grid tools look (GCT's order): config trust.cert_dir, then
X509_CERT_DIR, ~/.globus/certificates, /etc/grid-security/certificates. A CA is found by its subject
hash (`<hash>.0`, `<hash>.1`, ... as OpenSSL's c_rehash names them; the hash is computed here exactly as
OpenSSL's X509_NAME_hash does) and confirmed by comparing the DN. `install()` puts an IGTF distribution
(or the sandbox's trust bundle) in place from a tarball, after checking every file in it.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from onboard.errors import Exit, OnboardError

IGTF_DIST = "https://dist.igtf.net/distribution/current/accredited/"
EGI_REPO = "https://repository.egi.eu/sw/production/cas/1/current"


class TrustError(OnboardError):
    exit_code = Exit.TRUST


# ---- DNs ------------------------------------------------------------------------------------------------

# short names OpenSSL prints in slash DNs, by OID
_SHORT = {
    "2.5.4.6": "C", "2.5.4.8": "ST", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.3": "CN",
    "0.9.2342.19200300.100.1.25": "DC", "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.1": "UID", "2.5.4.9": "street", "2.5.4.17": "postalCode", "2.5.4.42": "GN",
    "2.5.4.4": "SN", "2.5.4.12": "title", "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym",
    "2.5.4.97": "organizationIdentifier",
}
_ALIASES = {"email": "emailaddress", "e": "emailaddress", "userid": "uid", "s": "st"}
_SPLIT = re.compile(r"/(?=[A-Za-z][A-Za-z0-9.]*=)")


def slash_dn(name: Any) -> str:
    """An x509.Name in OpenSSL's slash form, as VOMS and LSC files write it: /DC=ch/DC=cern/CN=..."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            parts.append(f"/{_SHORT.get(attr.oid.dotted_string, attr.oid.dotted_string)}={attr.value}")
    return "".join(parts)


def _canon_text(value: str) -> str:
    """OpenSSL's canonical form of a string value: trimmed, inner whitespace runs to one space, ASCII
    letters in lower case."""
    ws = " \t\n\v\f\r"
    value = value.strip(ws)
    out, in_space = [], False
    for ch in value:
        if ch in ws:
            if not in_space:
                out.append(" ")
            in_space = True
            continue
        in_space = False
        out.append(ch.lower() if "A" <= ch <= "Z" else ch)
    return "".join(out)


def dn_key(dn: str | Any) -> tuple[tuple[str, str], ...]:
    """A comparable form of a DN given as slash text or as an x509.Name."""
    if not isinstance(dn, str):
        dn = slash_dn(dn)
    pairs = []
    for part in _SPLIT.split(dn.strip())[1:] if dn.strip().startswith("/") else []:
        attr, _, value = part.partition("=")
        a = attr.lower()
        pairs.append((_ALIASES.get(a, a), _canon_text(value)))
    return tuple(pairs)


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    body = bytearray([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))


def subject_hash(name: Any) -> str:
    """OpenSSL's X509_NAME_hash (the `<hash>.0` file names of a CA directory), computed in Python.

    SHA-1 over the canonical encoding: each RDN as a DER SET of (OID, UTF8String of the canonical value),
    concatenated without the outer SEQUENCE; the first four digest bytes, little-endian, in hex.
    """
    enc = bytearray()
    for rdn in name.rdns:
        members = sorted(_der(0x30, _der_oid(a.oid.dotted_string) + _der(0x0C, _canon_text(a.value).encode()))
                         for a in rdn)
        enc += _der(0x31, b"".join(members))
    digest = hashlib.sha1(bytes(enc)).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def name_from_slash(dn: str) -> Any:
    """An x509.Name from a slash DN (for the hash of a CA known only by its DN, e.g. from an LSC)."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    by_short = {v.lower(): k for k, v in _SHORT.items()}
    attrs = []
    for attr, value in dn_key_raw(dn):
        a = _ALIASES.get(attr.lower(), attr.lower())
        oid = by_short.get(a) or (attr if re.fullmatch(r"[0-9.]+", attr) else None)
        if oid is None:
            raise ValueError(f"unknown attribute '{attr}' in DN {dn}")
        attrs.append(x509.RelativeDistinguishedName([x509.NameAttribute(ObjectIdentifier(oid), value)]))
    return x509.Name(attrs)


def dn_key_raw(dn: str) -> list[tuple[str, str]]:
    dn = dn.strip()
    if not dn.startswith("/"):
        raise ValueError(f"'{dn}' is not a DN in slash form")
    return [tuple(p.partition("=")[::2]) for p in _SPLIT.split(dn)[1:]]  # type: ignore[misc]


# ---- the trust directory in use -------------------------------------------------------------------------

@dataclass
class Candidate:
    path: Path
    why: str


def candidates(cfg: Any = None, environ: dict[str, str] | None = None) -> list[Candidate]:
    env = os.environ if environ is None else environ
    out = []
    configured = getattr(getattr(cfg, "trust", None), "cert_dir", None) if cfg is not None else None
    if configured:
        out.append(Candidate(Path(configured).expanduser(), "config trust.cert_dir"))
    if env.get("X509_CERT_DIR"):
        out.append(Candidate(Path(env["X509_CERT_DIR"]).expanduser(), "X509_CERT_DIR"))
    home = Path(env.get("HOME") or Path.home())
    out.append(Candidate(home / ".globus" / "certificates", "~/.globus/certificates"))
    out.append(Candidate(Path("/etc/grid-security/certificates"), "/etc/grid-security/certificates"))
    return out


def cert_dir(cfg: Any = None, environ: dict[str, str] | None = None) -> Candidate | None:
    """The first trust directory that exists, in the order grid tools use."""
    return next((c for c in candidates(cfg, environ) if c.path.is_dir()), None)


def install_target(cfg: Any = None, environ: dict[str, str] | None = None) -> Path:
    """Where `install` puts a bundle by default: the configured or X509_CERT_DIR one, else ~/.globus."""
    for c in candidates(cfg, environ):
        if c.why in ("config trust.cert_dir", "X509_CERT_DIR"):
            return c.path
    return candidates(cfg, environ)[-2].path


def _load_cert(path: Path):
    import warnings

    from cryptography import x509

    data = path.read_bytes()
    with warnings.catch_warnings():  # old roots with odd serials are still roots
        warnings.simplefilter("ignore")
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)


@dataclass
class Found:
    path: Path
    subject: str
    not_after: datetime | None


def find_ca(directory: Path, dn: str | Any) -> Found | None:
    """The CA certificate with this subject in `directory` (looked up by hash, confirmed by DN)."""
    try:
        name = dn if not isinstance(dn, str) else name_from_slash(dn)
        h = subject_hash(name)
    except ValueError:
        h = None
    want = dn_key(dn)
    paths = [directory / f"{h}.{i}" for i in range(10)] if h else []
    paths = [p for p in paths if p.exists()]
    if not paths:  # a directory without hash links (or an unusual DN): look at every certificate
        try:
            paths = sorted(p for p in directory.iterdir()
                           if p.suffix == ".pem" or re.fullmatch(r"[0-9a-f]{8}\.\d", p.name))
        except OSError:
            return None
    for p in paths:
        try:
            cert = _load_cert(p)
        except (OSError, ValueError):
            continue
        if dn_key(cert.subject) == want:
            return Found(p, slash_dn(cert.subject), cert.not_valid_after_utc)
    return None


def count_cas(directory: Path) -> int:
    try:
        return sum(1 for p in directory.iterdir() if re.fullmatch(r"[0-9a-f]{8}\.\d", p.name))
    except OSError:
        return 0


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


def require_ca(cfg: Any, dn: str, what: str = "the server's CA") -> Found:
    """The CA with this DN from the trust directory in use, or a TrustError saying how to get it."""
    cd = cert_dir(cfg)
    if cd is None:
        raise TrustError("no grid trust directory: none of X509_CERT_DIR, ~/.globus/certificates, "
                         "/etc/grid-security/certificates exists.", "Run `onboard trust` for how to install "
                                                                    "the "
                         "IGTF trust anchors on this system.")
    found = find_ca(cd.path, dn)
    if found is None:
        raise TrustError(f"{what} ({dn}) is not in the trust directory {cd.path}.",
                         "Run `onboard trust` for how to install the IGTF trust anchors, or "
                         "`onboard trust --install TARBALL`.")
    return found


# ---- installing a bundle --------------------------------------------------------------------------------

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
    return TrustError(f"{tarball}: {what}; nothing was installed.",
                      "Download the bundle again from " + IGTF_DIST + " and check its checksum.")


def read_bundle(tarball: Path, sha256: str | None = None) -> Bundle:
    """Read and check every member of a trust-anchor tarball; raise TrustError on anything wrong."""
    try:
        raw = tarball.read_bytes()
    except OSError as e:
        raise TrustError(f"{tarball}: cannot be read ({e.strerror}).", "Give the path of the downloaded "
                                                                       "tarball.") from None
    if sha256:
        digest = hashlib.sha256(raw).hexdigest()
        if digest.lower() != sha256.strip().lower().split()[0]:
            raise _fail(tarball, f"SHA-256 is {digest}, not the one given")
    import io

    try:
        tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:*")
    except tarfile.TarError as e:
        raise _fail(tarball, f"not a tar archive ({e})") from None
    bundle = Bundle()
    with tf:
        members = tf.getmembers()
        names = [m.name for m in members if not m.isdir()]
        tops = {n.split("/", 1)[0] for n in names if "/" in n}
        strip = tops.pop() + "/" if len(tops) == 1 and all("/" in n for n in names) else ""
        for m in members:
            if m.name.startswith("/") or ".." in m.name.split("/"):
                raise _fail(tarball, f"member {m.name!r} points outside the directory")
            if m.isdir():
                continue
            rel = m.name[len(strip):] if strip and m.name.startswith(strip) else m.name
            if "/" in rel:
                bundle.skipped.append(m.name)
                continue
            if not (m.isfile() or m.issym()):
                raise _fail(tarball, f"member {m.name!r} is not a regular file or a link")
            known = _HASHED.match(rel) or rel.endswith(_CERT_SUFFIXES + _META) or rel.endswith(".crl")
            if not known:
                bundle.skipped.append(m.name)
                continue
            if m.issym():
                if "/" in m.linkname or m.linkname in ("", ".", ".."):
                    raise _fail(tarball, f"link {m.name!r} points outside the directory")
                bundle.links[rel] = m.linkname
                continue
            f = tf.extractfile(m)
            bundle.files[rel] = f.read() if f else b""
    # every link must resolve inside the bundle
    for name, target in bundle.links.items():
        if target not in bundle.files and target not in bundle.links:
            raise _fail(tarball, f"link {name!r} points to {target!r}, which is not in the bundle")
    _check_certs(tarball, bundle)
    return bundle


def _content(bundle: Bundle, name: str, depth: int = 0) -> bytes:
    if name in bundle.files:
        return bundle.files[name]
    if depth > 5:
        raise KeyError(name)
    return _content(bundle, bundle.links[name], depth + 1)


def _check_certs(tarball: Path, bundle: Bundle) -> None:
    from cryptography import x509

    now = datetime.now(timezone.utc)
    for name in sorted(set(bundle.files) | set(bundle.links)):
        is_cert = re.fullmatch(r"[0-9a-f]{8}\.\d", name) or name.endswith(_CERT_SUFFIXES)
        if not is_cert:
            continue
        data = _content(bundle, name)
        try:
            cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                    else x509.load_der_x509_certificate(data))
        except ValueError:
            raise _fail(tarball, f"{name} is not a certificate") from None
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            is_ca = bc.ca
        except x509.ExtensionNotFound:
            is_ca = cert.issuer == cert.subject  # an old self-signed root without the extension
        if not is_ca:
            raise _fail(tarball, f"{name} is not a CA certificate ({slash_dn(cert.subject)})")
        if re.fullmatch(r"[0-9a-f]{8}\.\d", name) and name[:8] != subject_hash(cert.subject):
            raise _fail(tarball, f"{name} holds {slash_dn(cert.subject)}, whose hash is "
                                 f"{subject_hash(cert.subject)}")
        if cert.not_valid_after_utc < now:
            bundle.expired.append(name)
        bundle.cas[name] = slash_dn(cert.subject)
        bundle.hashes[name] = subject_hash(cert.subject)
    if not bundle.cas:
        raise _fail(tarball, "holds no CA certificate")


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


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
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o755)  # trust anchors are public; grid tools of other users may read them
        for name, data in bundle.files.items():
            _write(tmp / name, data, 0o644)
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
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Installed(dest, len({v for v in bundle.cas.values()}), backup, bundle.skipped, bundle.expired)
