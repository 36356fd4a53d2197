"""The certificate on the submit host: the same as the local one, and until when.

Read-only, over the one SSH connection the journey uses (adapters/ssh.py: host keys checked, never a
prompt without a terminal): ~/.globus/usercert.pem is read and fingerprinted, nothing is written.
After a renewal the host may still hold the old certificate (voms-proxy-init there then goes on with
it until it ends).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from onboard.errors import OnboardError
from onboard.lapse import LAPSED, LAPSING, UNKNOWN, Item, by_date

REMOTE_CERT = ".globus/usercert.pem"


def check(config, ui, local_sha256: str | None, now: datetime, warn_days: int) -> Item:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from onboard.adapters.ssh import connect_configured

    host = config.submit_host.host
    what = f"usercert.pem on {host}"
    try:
        conn = connect_configured(config, ui)
    except OnboardError as e:
        return Item(what, UNKNOWN, f"could not log in: {e.message}", e.hint)
    try:
        with conn.sftp.open(REMOTE_CERT, "rb") as f:
            data = f.read(1 << 20)
    except OSError as e:
        return Item(what, UNKNOWN, f"cannot read ~/{REMOTE_CERT} there ({e.strerror or type(e).__name__})",
                    "Deliver the credential again: `onboard resume` (or `onboard renew`).")
    except OnboardError as e:
        return Item(what, UNKNOWN, e.message, e.hint)
    finally:
        conn.close()
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        return Item(what, UNKNOWN, f"~/{REMOTE_CERT} there holds no certificate",
                    "Deliver the credential again: `onboard resume`.")
    sha = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    end = cert.not_valid_after_utc
    ended = end <= now
    if local_sha256 and sha == local_sha256:
        item = by_date(what, end, now, warn_days, lapsed_todo="Renew it (`onboard renew`).",
                       lapsing_todo="Renew it (`onboard renew`); it is delivered here again.")
        item.detail = f"the same certificate as here, {item.detail}"
        return item
    if local_sha256 is None:
        return Item(what, UNKNOWN, f"a certificate ending {end:%Y-%m-%d}; none here to compare with", "", end)
    return Item(what, LAPSED if ended else LAPSING,
                f"holds another certificate than this computer (fingerprint {sha[:16]}..., ends "
                f"{end:%Y-%m-%d}, {'ended' if ended else 'still valid'})",
                "Deliver the current one there: `onboard renew` (or `onboard resume`); the host's old files "
                "are kept as backups.", end)
