"""The trust anchors: each CA's CRL (its nextUpdate), the CA certificates' end, the directory's age.

A CRL past its nextUpdate makes grid services (and voms-proxy-init with CRL checks) refuse every
certificate of that CA, the user's own included: fetch-crl, run by cron, keeps them fresh. The IGTF
distribution is released about monthly; a directory untouched for months lacks new CAs and keeps
withdrawn ones.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from onboard.lapse import INFO, LAPSED, LAPSING, OK, UNKNOWN, Item, by_date

STALE_DAYS = 90  # three IGTF releases missed


def check(trust_dir: Path, now: datetime, warn_days: int) -> list[Item]:
    from cryptography import x509

    if not trust_dir.is_dir():
        return [Item("trust anchors", UNKNOWN, f"no trust directory at {trust_dir}",
                     "Run `onboard trust` to see where the grid CAs should be and how to install them.")]
    items: list[Item] = []
    crls = sorted(p for p in trust_dir.iterdir() if p.suffix.startswith(".r") and p.suffix[2:].isdigit())
    stale, soon = [], []
    for p in crls:
        try:
            crl = x509.load_pem_x509_crl(p.read_bytes())
        except (OSError, ValueError):
            try:
                crl = x509.load_der_x509_crl(p.read_bytes())
            except (OSError, ValueError):
                stale.append(f"{p.name} (unreadable)")
                continue
        nxt = crl.next_update_utc
        if nxt is None:
            continue
        if nxt <= now:
            stale.append(f"{p.name} (next update was due {nxt:%Y-%m-%d %H:%M})")
        elif (nxt - now).total_seconds() < 3600:
            soon.append(p.name)
    if not crls:
        items.append(Item("CRLs", INFO, f"none in {trust_dir} (fetch-crl does not run for it)"))
    elif stale:
        items.append(Item("CRLs", LAPSED, f"{len(stale)} of {len(crls)} out of date: {', '.join(stale[:3])}",
                          "Run fetch-crl (as root for /etc/grid-security/certificates), or ask the "
                          "machine's administrators to enable its cron job."))
    else:
        items.append(Item("CRLs", OK, f"{len(crls)} current" + (f" ({len(soon)} due within the hour)"
                                                               if soon else "")))
    ends = []
    for p in trust_dir.iterdir():
        if p.suffix == ".0" or p.suffix == ".pem":
            try:
                ends.append((x509.load_pem_x509_certificate(p.read_bytes()).not_valid_after_utc, p.name))
            except (OSError, ValueError):
                continue
    if ends:
        end, name = min(ends)
        item = by_date(f"CA certificates ({len(ends)}; first to end: {name})", end, now, warn_days,
                       lapsed_todo="Update the IGTF distribution (`onboard trust --install TGZ`, or the "
                       "ca-policy-egi packages).", lapsing_todo="Update the IGTF distribution in time.")
        items.append(item)
    # the distribution's own files (CRLs change daily with fetch-crl and say nothing of the release)
    newest = max((p.stat().st_mtime for p in trust_dir.iterdir() if not p.suffix.startswith(".r")),
                 default=None)
    if newest is not None:
        age = (now - datetime.fromtimestamp(newest, timezone.utc)).days
        state = LAPSING if age > STALE_DAYS else OK
        items.append(Item("trust anchors' age", state, f"{trust_dir} last changed {age} days ago",
                          "Update the IGTF distribution (released about monthly)." if state != OK else ""))
    return items
