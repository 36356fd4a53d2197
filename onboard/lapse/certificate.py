"""The local certificate: its end date, and the tools that refuse it earlier (CMS's CRAB: 30 days)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from onboard.lapse import UNKNOWN, Item, by_date

CRAB_DAYS = 30  # CMS's CRAB client refuses a certificate that ends within 30 days (issue 17)
RENEW = "Renew the certificate at your CA now (`onboard renew`), then it is delivered again."


def end_of(path: Path) -> tuple[datetime, str] | None:
    """The certificate's end (UTC) and its SHA-256 fingerprint, or None if `path` holds none."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.not_valid_after_utc, hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def local(path: Path, now: datetime, warn_days: int) -> Item:
    found = end_of(path)
    if found is None:
        return Item("certificate", UNKNOWN, f"no readable certificate at {path}",
                    "Run `onboard convert FILE.p12` or finish the journey (`onboard resume`).")
    end, _ = found
    return by_date(f"certificate {path}", end, now, warn_days,
                   lapsed_todo="It can no longer be used: get a new one from your CA (`onboard renew`).",
                   lapsing_todo=RENEW)


def crab(path: Path, now: datetime, warn_days: int) -> Item | None:
    """For CMS members: the day CRAB starts refusing the certificate, 30 days before its end."""
    found = end_of(path)
    if found is None:
        return None
    refuse = found[0] - timedelta(days=CRAB_DAYS)
    return by_date("CRAB (CMS) accepts the certificate", refuse, now, warn_days, vo="cms", noun="until",
                   lapsed_todo=f"CRAB refuses a certificate within {CRAB_DAYS} days of its end: renew it "
                   "now (`onboard renew`).",
                   lapsing_todo=f"CRAB will refuse it {CRAB_DAYS} days before its end: {RENEW}")
