"""The deliver step: the clean package onto the submit host, PEM files made there (see onboard.delivery).

Runs beside registration (the VO administrators need not have approved yet). One SSH connection, shared
with the verify step when both happen in the same run. Idempotent: what is already installed (checked by
fingerprint) is not sent again, and a run killed halfway is finished by the next one.
"""

from __future__ import annotations

from pathlib import Path

from onboard.errors import CredentialError, Exit
from onboard.steps.context import StepContext


def connection(ctx: StepContext):
    """The run's one SSH connection to the submit host."""
    from onboard.adapters.ssh import connect_configured

    return ctx.resource("ssh", lambda: connect_configured(ctx.config, ctx.ui, ctx.options))


def passphrase_digest(passphrase: str) -> bytes:
    """What the convert step keeps of the passphrase it wrote the package under (never the passphrase)."""
    import hashlib

    return hashlib.sha256(passphrase.encode("utf-8")).digest()


def package(ctx: StepContext):
    """The package to deliver: as the convert step of this run made it (when ours is the passphrase it was
    written under), else read from disk and opened with our passphrase."""
    import hmac

    from onboard.delivery.local import load_package

    path, passphrase = Path(ctx.record.artifacts.package), ctx.secrets.passphrase()
    made, digest = ctx.made.get("package", (None, b""))
    if made is not None and made.path == path and hmac.compare_digest(digest, passphrase_digest(passphrase)):
        return made
    return load_package(path, passphrase)


def run(ctx: StepContext) -> None:
    from onboard.delivery import deliver

    art = ctx.record.artifacts
    if not art.package:
        raise CredentialError(
            "there is no package to deliver yet (the convert step makes it).",
            "Run `onboard resume`; the convert step comes first.",
            exit_code=Exit.CREDENTIAL,
        )
    pkg = package(ctx)
    conn = connection(ctx)
    ctx.ui.explain(
        f"Copying your credential to {conn.target.display} over one SSH connection; the PEM files "
        "are made there, by its own openssl, with the passphrase sent on a pipe."
    )

    def progress(phase: str) -> None:
        # persisted after each side effect, so a killed run is resumed without redoing it blindly
        art.remote = {**art.remote, "host": conn.target.display, "phase": phase}
        ctx.checkpoint()

    # a connection lost halfway (a busy host) is logged into again and the delivery run again: it is
    # idempotent, so what was done already is only checked
    report = conn.retrying(
        lambda: deliver(
            conn, pkg, ctx.secrets.passphrase(), ui=ctx.ui, now=ctx.now(), on_progress=progress
        )
    )
    art.remote = {
        **report.remote,
        "phase": "delivered",
        "delivered_at": ctx.now().isoformat(timespec="seconds"),
    }
    ctx.checkpoint()
    ctx.finished.add("deliver")
    for line in report.steps or ["already installed there; nothing to do"]:
        ctx.ui.say(f"    {line}")
