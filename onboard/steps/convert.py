"""The convert step of the journey: the CA's PKCS#12 becomes grid PEM files, a clean .p12 and links.

Input: record.artifacts.p12 (set by the obtain step), else the --p12 option, else config ca.p12.
Output: files in config credentials.dir named per credentials.name_format, and record.artifacts filled
(paths and the certificate's public facts). Idempotent: when the same certificate is already installed
there, nothing is written (and no passphrase is asked if the record already knows it).
"""

from __future__ import annotations

from pathlib import Path

from onboard.errors import CredentialError, Exit
from onboard.steps.context import StepContext


def _source(ctx: StepContext) -> Path:
    for candidate in (ctx.record.artifacts.p12, ctx.options.get("p12"), ctx.config.ca.p12):
        if candidate:
            return Path(candidate).expanduser()
    raise CredentialError(
        "there is no PKCS#12 to convert yet.",
        "Pass --p12 FILE (the .p12 your CA's portal gave you), or set ca.p12 in the configuration.",
        exit_code=Exit.CREDENTIAL,
    )


def _done_before(ctx: StepContext) -> bool:
    """The record names installed files holding the certificate it describes: nothing left to do."""
    art = ctx.record.artifacts
    if not (art.cert and art.key and art.package and art.certificate.sha256):
        return False
    if not (art.key.is_file() and art.package.is_file()):
        return False
    try:
        from onboard.credentials.installer import read_cert
        from onboard.credentials.model import Credential

        cert = read_cert(art.cert)
    except (OSError, ValueError):
        return False
    return Credential(key=None, cert=cert).sha256 == art.certificate.sha256


def run(ctx: StepContext) -> None:
    from onboard.credentials import checks, installer, readers
    from onboard.secrets import key_passphrase

    if _done_before(ctx):
        ctx.ui.say(f"credential already installed: {ctx.record.artifacts.cert}")
        return
    src = _source(ctx)
    data = readers.read_input(src)
    cred = readers.load_pkcs12(data, ctx.secrets.passphrase(f"Passphrase of {src.name}"), source=src)
    now = ctx.now()
    warnings = checks.check(cred, now)
    tw = checks.trust_warning(cred, ctx.config.trust.cert_dir)
    if tw:
        warnings.append(tw)
    creds = ctx.config.credentials
    dest = Path(creds.dir).expanduser()
    stem = src.name.rsplit(".", 1)[0] if src.suffix.lower() in (".p12", ".pfx") else src.name
    name = cred.name(creds.name_format, stem)
    key_pw = key_passphrase(ctx.secrets, ctx.ui, bool(ctx.options.get("new_passphrase")))
    result = installer.install(
        cred, dest, key_passphrase=key_pw, name=name, now=now, links=not ctx.options.get("no_links")
    )
    for w in warnings:
        ctx.ui.warn(w)
    art = ctx.record.artifacts
    art.p12 = art.p12 or src
    art.cert, art.key, art.package, art.chain = result.cert, result.key, result.package, result.chain
    c = art.certificate
    c.subject_dn, c.issuer_dn, c.serial = cred.subject_dn, cred.issuer_dn, cred.serial_hex
    c.not_before, c.not_after, c.sha256 = cred.not_before, cred.not_after, cred.sha256
    ctx.checkpoint()
    if not result.unchanged:  # written now, under key_pw: the deliver step of this run need not open it
        from onboard.delivery.local import made_package
        from onboard.steps.deliver import passphrase_digest

        ctx.made["package"] = (made_package(result.package, cred.key, cred.cert), passphrase_digest(key_pw))
    if result.unchanged:
        ctx.ui.say(f"credential already installed: {result.cert}")
    else:
        ctx.ui.say(
            f"installed {result.cert.name}, {result.key.name} and {result.package.name} in {result.dest}"
        )
        for original, backup in result.backups:
            ctx.ui.say(f"  kept the previous {original.name} as {backup.name}")
