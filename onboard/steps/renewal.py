"""What the steps of a renewal share: the previous credential (as `onboard renew` recorded it), found again
wherever the convert step left it, and a session to the VO's server made with it.

`record.artifacts.extra["renewal"]` (all public): `previous` = the first journey's (or the last renewal's)
cert, key, chain, package, p12 paths, certificate facts, remote files and FQANs; `started_at`; `vo_change`
= none | requested | known (where the VO stands with the new certificate); `request` = what was sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onboard.errors import CredentialError, Exit
from onboard.steps.context import StepContext


def renewal(ctx: StepContext) -> dict[str, Any]:
    ren = ctx.record.artifacts.extra.get("renewal")
    if not isinstance(ren, dict) or "previous" not in ren:
        raise CredentialError("this journey is no renewal (it has no previous credential).",
                              "Start one with `onboard renew --vo VO` once the first journey is done.",
                              exit_code=Exit.STATE)
    return ren


def same_identity(ctx: StepContext) -> bool:
    """Subject and issuer unchanged: every VO knows the new certificate already (they key on the pair)."""
    prev = renewal(ctx)["previous"]["certificate"]
    new = ctx.record.artifacts.certificate
    return (new.subject_dn, new.issuer_dn) == (prev.get("subject_dn"), prev.get("issuer_dn"))


def _sha256(path: Path) -> str:
    from onboard.credentials.installer import read_cert
    from onboard.credentials.model import Credential

    try:
        return Credential(key=None, cert=read_cert(path)).sha256
    except (OSError, ValueError):
        return ""


def previous_files(ctx: StepContext) -> tuple[Path, Path, Path | None]:
    """(cert, key, chain) of the previous credential: where it was, or the backup the convert step moved it
    to (backup.<stamp>.<name>, the newest holding that very certificate)."""
    prev = renewal(ctx)["previous"]
    want = prev["certificate"].get("sha256", "")
    cert, key = Path(prev["cert"]), Path(prev["key"])
    chain = Path(prev["chain"]) if prev.get("chain") else None
    if _sha256(cert) == want and key.is_file():
        return cert, key, chain if chain and chain.is_file() else None
    for backup in sorted(cert.parent.glob(f"backup.*.{cert.name}"), reverse=True):
        stamp = backup.name[: -len(cert.name)]
        if _sha256(backup) == want and (cert.parent / f"{stamp}{key.name}").is_file():
            moved = cert.parent / f"{stamp}{chain.name}" if chain else None
            return backup, cert.parent / f"{stamp}{key.name}", moved if moved and moved.is_file() else None
    raise CredentialError(
        f"the previous certificate ({prev['certificate'].get('subject_dn')}) is neither at {cert} nor in a "
        "backup next to it.",
        "Put it back (cert and key), or ask the VO's administrators to add the new certificate by hand.",
        exit_code=Exit.CREDENTIAL)


def _still_valid(ctx: StepContext) -> None:
    """The VO's server takes only a valid certificate: an expired previous one cannot ask for the new one."""
    from datetime import datetime

    prev = renewal(ctx)["previous"]["certificate"]
    end = prev.get("not_after")
    end = datetime.fromisoformat(end) if isinstance(end, str) else end
    if end and end <= ctx.now():
        new = ctx.record.artifacts.certificate
        raise CredentialError(
            f"your previous certificate expired on {end:%Y-%m-%d}, so it cannot ask VO {ctx.vo} to add the "
            "new one.",
            f"Ask the VO's administrators to add subject {new.subject_dn} (issuer {new.issuer_dn}) to your "
            "membership; never register a second time. Renew before the old certificate ends next year.",
            exit_code=Exit.VALIDITY)


def previous_session(ctx: StepContext, url: str):
    """The run's HTTPS session to the server of `url` with the previous certificate (the one the VO knows)."""
    from urllib.parse import urlsplit

    from onboard.adapters import https

    netloc = urlsplit(url).netloc.lower()

    def make():
        _still_valid(ctx)
        cert, key, chain = previous_files(ctx)
        ident = https.ClientIdentity(cert=cert, key=key, passphrase=lambda: ctx.secrets.passphrase(),
                                     chain=chain)
        return https.for_server(f"https://{netloc}", ctx.config, ident, trust=ctx.options.get("trust_dir"))

    return ctx.resource(f"https:{netloc}:previous", make)
