"""Any other IGTF CA: a portal that hands out a .p12/.pfx, or one that takes a certificate request (CSR).

With `ca.csr = true` onboard makes the key here (RSA 3072, encrypted with your passphrase, 0600 from the
first byte), writes the CSR for you to paste into the CA's portal, watches the download directory for the
issued certificate (.pem/.crt/.cer whose public key is ours), and packs key + certificate into a PKCS#12 in
onboard's directory so the rest of the journey is the same as for a downloaded .p12.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from onboard.atomicfile import write_new
from onboard.errors import CredentialError, Exit
from onboard.obtain import Provider

FIND_CA = "https://www.igtf.net/pmamap"


class Other(Provider):
    def portal(self, cfg, ctx=None) -> str:
        return cfg.ca.portal_url

    def intro(self, cfg) -> list[str]:
        return ["Any CA accredited by the IGTF works for the grid: the one your VO or your institution "
                f"names, or the one for your country ({FIND_CA})."]

    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        where = portal or "your CA's portal (set config key ca.portal_url to have onboard open it)"
        return [
            f"Open {where} and prove who you are the way the CA asks (institutional login, or an appointment "
            "with its registration authority).",
            "Request a personal certificate for grid use (client authentication; IGTF, not a plain e-mail "
            "certificate).",
            "If the key is made in your browser or by the CA, protect it with a strong password of at least "
            "12 characters and keep that in your password manager.",
            f"Download the certificate as a .p12 or .pfx file into {download_dir}. onboard notices it there "
            "by itself and moves it somewhere only you can read.",
        ]

    def obtain(self, ctx) -> bool:
        if not ctx.config.ca.csr:
            return False
        _csr_flow(ctx, self.portal(ctx.config))
        return True


def _passphrase(ctx, new: bool) -> str:
    opts, creds = ctx.options, ctx.config.credentials
    configured = opts.get("passphrase_file") or opts.get("passphrase_stdin") or creds.passphrase_command \
        or creds.passphrase_file
    if configured or not new:
        return ctx.secrets.passphrase()
    value = ctx.secrets.new_passphrase()
    ctx.secrets.remember("passphrase", value)
    return value


def _fresh_stamp(dest_dir: Path) -> str:
    """A time stamp naming no key or request in dest_dir yet (two CSRs within a second get -2, -3...)."""
    base = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        stamp = base if n == 1 else f"{base}-{n}"
        if not any((dest_dir / f"{kind}-{stamp}.pem").exists() for kind in ("key", "request")):
            return stamp
    raise FileExistsError(f"no free name for a new request in {dest_dir}")


def make_key_and_csr(common_name: str, passphrase: str, dest_dir: Path) -> tuple[Path, Path, bytes]:
    """A new RSA 3072 key (encrypted PKCS#8, 0600 from the first byte) and a CSR for it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from onboard.paths import ensure_private_dir

    ensure_private_dir(dest_dir)
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    stamp = _fresh_stamp(dest_dir)
    key_path, csr_path = dest_dir / f"key-{stamp}.pem", dest_dir / f"request-{stamp}.pem"
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(passphrase.encode()))
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    write_new(key_path, key_pem, 0o600)
    write_new(csr_path, csr_pem, 0o644)
    return key_path, csr_path, csr_pem


def _renewal_key(ctx) -> Path | None:
    """The previous certificate's key, in a renewal configured to keep it (ca.renew_with_old_key)."""
    if not ctx.config.ca.renew_with_old_key:
        return None
    prev = ctx.record.artifacts.extra.get("renewal", {}).get("previous", {})
    key = Path(prev["key"]) if prev.get("key") else None
    if key is None or not key.is_file():
        raise CredentialError("ca.renew_with_old_key is set but the previous key is not there"
                              + (f" ({key})." if key else "."),
                              "Put it back, or set ca.renew_with_old_key = false for a new key.",
                              exit_code=Exit.CREDENTIAL)
    return key


def csr_for_key(key_path: Path, common_name: str, passphrase: str,
                dest_dir: Path) -> tuple[Path, Path, bytes]:
    """A CSR for an existing (encrypted) key; the key file stays where it is and is not rewritten."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.x509.oid import NameOID

    from onboard.paths import ensure_private_dir

    try:
        key = load_pem_private_key(key_path.read_bytes(), passphrase.encode())
    except (ValueError, TypeError):
        raise CredentialError(f"the passphrase does not open {key_path}.",
                              "Give the passphrase of your present key.",
                              exit_code=Exit.WRONG_PASSPHRASE) from None
    ensure_private_dir(dest_dir)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    csr_path = dest_dir / f"request-{_fresh_stamp(dest_dir)}.pem"
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    write_new(csr_path, csr_pem, 0o644)
    return key_path, csr_path, csr_pem


def load_certs(data: bytes) -> list:
    from cryptography import x509

    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def matching_cert(path: Path, public_der: bytes):
    """(leaf, chain) when the file holds a certificate for our key, else None."""
    from cryptography.hazmat.primitives import serialization

    try:
        certs = load_certs(path.read_bytes())
    except (OSError, ValueError):
        return None
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    leaf = next((c for c in certs if c.public_key().public_bytes(der, spki) == public_der), None)
    if leaf is None:
        return None
    return leaf, [c for c in certs if c is not leaf]


def _csr_flow(ctx, portal: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from onboard import paths
    from onboard.obtain.watcher import CERT_SUFFIXES, DownloadWatcher

    ui, cfg, arts = ctx.ui, ctx.config, ctx.record.artifacts
    state = arts.extra.setdefault("obtain", {})
    download_dir = Path(cfg.ca.download_dir).expanduser()
    if not (arts.key and Path(arts.key).is_file() and arts.csr):
        name = cfg.user.full_name or ui.ask("Your name as it should appear in the certificate",
                                            key="user.given_name")
        ui.explain("The key is made here, on your computer, and never leaves it: the CA only sees the "
                   "certificate request (CSR), which holds your public key and your name.")
        ui.explain("The key is encrypted with a passphrase (12 characters or more) so that a copy of the "
                   "file alone is useless to anyone else.")
        old_key = _renewal_key(ctx)
        if old_key is not None:  # a renewal, and the CA renews for the same key: no new key
            ui.say(f"The request is made with your present key ({old_key}), as ca.renew_with_old_key asks.")
            key_path, csr_path, csr_pem = csr_for_key(old_key, name, ctx.secrets.passphrase(),
                                                      paths.data_dir() / "keys")
        else:
            passphrase = _passphrase(ctx, new=True)
            key_path, csr_path, csr_pem = make_key_and_csr(name, passphrase, paths.data_dir() / "keys")
        arts.key, arts.csr = key_path, csr_path
        watcher = DownloadWatcher(download_dir, suffixes=CERT_SUFFIXES)
        state.update(provider="other", mode="csr", portal=portal, download_dir=str(download_dir),
                     baseline=watcher.baseline, since=ctx.now().isoformat(timespec="seconds"))
        ctx.checkpoint()
        ui.say(f"Your certificate request is in {csr_path}:")
        ui.say(csr_pem.decode().rstrip())
        where = portal or "your CA's portal"
        for i, text in enumerate([
                f"Open {where} and choose to request a personal (grid, client-authentication) certificate "
                "with your own certificate request (CSR).",
                f"Paste the request above (or upload {csr_path}) and complete the CA's identity checks.",
                f"When the CA issues the certificate, save it (PEM, .crt or .cer) in {download_dir}; onboard "
                "recognises it by its public key."], 1):
            ui.say(f"  {i}. {text}")
    key_path = Path(arts.key)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    public_der = None
    # the public key is needed to recognise the certificate; read it from the CSR (no passphrase needed)
    from cryptography import x509

    csr = x509.load_pem_x509_csr(Path(arts.csr).read_bytes())
    public_der = csr.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    watcher = DownloadWatcher(Path(state.get("download_dir", download_dir)), state.get("baseline"),
                              suffixes=CERT_SUFFIXES)
    found = None
    for path in watcher.candidates():
        if watcher.complete(path) and (match := matching_cert(path, public_der)):
            found = (path, *match)
            break
    if found is None:
        raise ctx.wait(f"the CA to issue the certificate for {arts.csr}", after_seconds=5,
                       hint=f"Save the issued certificate in {watcher.directory}; `onboard resume --wait` "
                            "notices it.")
    path, leaf, chain = found
    try:
        key = load_pem_private_key(key_path.read_bytes(), _passphrase(ctx, new=False).encode())
    except ValueError:
        raise CredentialError(f"the passphrase does not open {key_path}.",
                              "Give the passphrase you chose when onboard made the key.",
                              exit_code=Exit.WRONG_PASSPHRASE) from None
    blob = pkcs12.serialize_key_and_certificates(
        None, key, leaf, chain or None,
        serialization.BestAvailableEncryption(_passphrase(ctx, new=False).encode()))
    dest_dir = paths.ensure_private_dir(paths.data_dir() / "obtained")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    p12 = dest_dir / f"{stamp}-issued.p12"
    write_new(p12, blob, 0o600)
    state["issued_cert"] = str(path)
    arts.p12 = p12
    ctx.checkpoint()
    ui.say(f"Found the issued certificate {path.name}; packed it with your key into {p12}.")


PROVIDER = Other(name="other", title="another IGTF CA")
