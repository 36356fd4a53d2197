"""The verify step: on the submit host, the installed files pass every consumer's checks and, when the
host has voms-clients, `voms-proxy-init -voms VO` gets the VO's attributes from its VOMS server.

The vomses line and LSC come from the configuration ([vos.<vo>]) or the shipped VO catalog.
The result and the FQANs go into the journey record (artifacts.fqans, artifacts.extra["verification"]).
"""

from __future__ import annotations

from onboard.steps.context import StepContext


def vo_trust(ctx: StepContext):
    """vomses lines and LSC for the journey's VO: config [vos.<vo>] over the catalog (if there is one)."""
    from onboard.delivery.verify import VOTrust

    entry = ctx.config.vos.get(ctx.vo)
    vomses, lsc = (list(entry.vomses), dict(entry.lsc)) if entry else ([], {})
    if not vomses:
        try:
            from onboard import catalog
        except ImportError:
            catalog = None  # type: ignore[assignment]
        if catalog is not None:
            found = catalog.lookup(ctx.vo, ctx.config)
            if found is not None:
                vomses, lsc = list(found.vomses), {**found.lsc, **lsc}
    return VOTrust(vomses=vomses, lsc=lsc) if vomses else None


def run(ctx: StepContext) -> None:
    from onboard.delivery.verify import verify
    from onboard.steps.deliver import connection

    conn = connection(ctx)
    art = ctx.record.artifacts
    if art.package and "deliver" not in ctx.finished:
        # days may have passed since the delivery: put right whatever changed on the host meanwhile
        # (idempotent: nothing is sent when the installed files are still the ones delivered). Delivered
        # in this very run, its last phase has just found every file as installed: no second look.
        from pathlib import Path

        from onboard.delivery import deliver
        from onboard.delivery.local import load_package

        package = load_package(Path(art.package), ctx.secrets.passphrase())
        repaired = conn.retrying(
            lambda: deliver(conn, package, ctx.secrets.passphrase(), ui=ctx.ui, now=ctx.now())
        )
        for line in repaired.steps:
            ctx.ui.say(f"    put right: {line}")
        if repaired.steps:
            art.remote = {**art.remote, **repaired.remote}
    trust = vo_trust(ctx)
    result = conn.retrying(  # idempotent: on a connection lost halfway, done again on a new one
        lambda: verify(
            conn,
            ctx.vo,
            ctx.secrets.passphrase(),
            trust=trust,
            cert_dir=ctx.config.submit_host.x509_cert_dir,
            expect_cert_sha256=art.remote.get("usercert.pem", ""),
            now=ctx.now(),
        )
    )
    for line in result.installed:
        ctx.ui.say(f"    installed {line}")
    for check in result.checks:
        ctx.ui.say(f"    ok  {check.name}")
    art.fqans = result.fqans
    art.extra["verification"] = {**result.summary(), "at": ctx.now().isoformat(timespec="seconds")}
    art.remote = {**art.remote, "verified_at": ctx.now().isoformat(timespec="seconds")}
    ctx.checkpoint()
    if result.voms == "ok":
        ctx.ui.say(f"    voms-proxy-init -voms {ctx.vo} works on {result.host}: {', '.join(result.fqans)}")
        if result.trust_from == "host":
            ctx.ui.say(f"    (with {result.host}'s own vomses and LSC files; onboard installed none)")
        for line in result.disagreements:
            ctx.ui.warn(f"{result.host} and onboard's catalog differ: {line}.")
        if result.stale:
            ctx.ui.warn(
                f"{result.host}'s own VOMS files for VO {ctx.vo} are stale ({', '.join(result.stale)}): "
                "voms-proxy-init failed with them and works with onboard's, installed in your home. Tell "
                f"{result.host}'s administrators (they install the vo-client package), or your VO's support."
            )
    else:
        ctx.ui.warn(f"{result.voms}: the files are right, but the VO attributes could not be tried there.")
