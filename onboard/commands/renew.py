"""`onboard renew [--vo VO | --all]`: the second year, as a journey of its own (workflows/renew-*.toml).

A VO whose journey is `done` starts a renewal: the record keeps what the journey made as
`artifacts.extra["renewal"]["previous"]` (paths, certificate facts, remote files, FQANs; all public) and
starts the renewal workflow of the VO's service, in one atomic save (a crash leaves the done journey or
the renewal, never half of each). A renewal under way is continued (as `onboard resume` does). With --all,
every VO's journey is renewed, one certificate for all: the PKCS#12 the first renewal obtained is the one
the others install (never a second certificate from the CA).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from onboard import app
from onboard.errors import Exit, StateError, UsageError

PREFIX = "renew-"
RENEWED_DAYS = 30  # a renewal done whose certificate lasts longer than this is not renewed again


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument("--vo", help="the VO whose credential to renew (default: the only journey)")
    which.add_argument("--all", action="store_true", help="every VO's journey, with one new certificate")
    p.add_argument("--wait", action="store_true", help="keep going through waits until done (or --timeout)")
    p.add_argument("--timeout", type=float, metavar="S", help="with --wait: give up waiting after S seconds")
    p.add_argument("--p12", metavar="FILE", help="the new PKCS#12 from the CA, already at hand")
    p.add_argument("--passphrase-file", metavar="F", help="file whose first line is the key's passphrase")
    p.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")
    p.add_argument("--trust-host-key", metavar="SHA256:...", help="accept the submit host's key with this "
                                                                   "fingerprint")


def renewal_workflow(record) -> str:
    """renew-<name> for the VO's first journey's workflow, when onboard ships one (voms-admin, iam)."""
    from onboard import workflow

    name = PREFIX + record.workflow.removeprefix(PREFIX)
    if name not in workflow.available():
        raise UsageError(f"renewing a {record.workflow} journey is not implemented.",
                         f"Ask the administrators of VO {record.vo} to add your new certificate by hand.")
    return name


def begin(record, workflow, now) -> None:
    """Turn a done journey into the start of its renewal (in memory; the caller saves it once)."""
    from onboard.state import Artifacts

    old = record.artifacts
    previous = {
        "workflow": record.workflow,
        "cert": str(old.cert or ""), "key": str(old.key or ""), "chain": str(old.chain or ""),
        "package": str(old.package or ""), "p12": str(old.p12 or ""),
        "certificate": old.certificate.model_dump(mode="json"),
        "remote": dict(old.remote), "fqans": list(old.fqans),
        "finished_at": now.isoformat(timespec="seconds"),
    }
    rounds = int(old.extra.get("renewal", {}).get("round", 0)) + 1
    record.artifacts = Artifacts(registration_url=old.registration_url, extra={
        "renewal": {"previous": previous, "round": rounds, "started_at": now.isoformat(timespec="seconds")}})
    record.workflow, record.state = workflow.name, workflow.initial
    record.waits, record.attempts, record.completed = {}, {}, {}
    record.last_error, record.outcome = None, ""


def _shared_p12(st, vo: str) -> Path | None:
    """--all: the new PKCS#12 another VO's renewal has obtained already (one certificate for every VO)."""
    for other in st.journeys():
        if other == vo:
            continue
        try:
            rec = st.load(other)
        except Exception:  # another VO's broken record must not stop this renewal
            continue
        if rec.workflow.startswith(PREFIX) and rec.artifacts.p12 and Path(rec.artifacts.p12).is_file():
            return Path(rec.artifacts.p12)
    return None


def _renew_one(args: argparse.Namespace, st, vo: str) -> int:
    from onboard import steps, workflow
    from onboard.app import drive as _drive
    from onboard.state import utcnow
    from onboard.ui import UI

    cfg = app.load_config(args)
    with st.lock(vo):
        if not st.exists(vo):
            raise StateError(f"there is no journey for VO '{vo}' to renew.",
                             f"The first year comes first: `onboard start --vo {vo}`.")
        record = st.load(vo)
        renewing = record.workflow.startswith(PREFIX)
        if record.states() == ["done"]:
            cert = record.artifacts.certificate
            if renewing and cert.not_after and (cert.not_after - utcnow()).days > RENEWED_DAYS:
                UI(quiet=args.quiet).say(f"VO {vo}: renewed already; the certificate is valid until "
                                         f"{cert.not_after:%Y-%m-%d}.")
                return Exit.OK
            wf = workflow.load(renewal_workflow(record), steps.names())
            begin(record, wf, utcnow())
            st.save(record)  # one atomic write: the done journey or its renewal, never half of each
            st.append_history(vo, **{"from": None, "to": wf.initial, "trigger": "renew", "outcome": "ok",
                                     "error": None, "workflow": wf.name})
        elif not renewing:
            raise StateError(f"the journey for VO {vo} is not done yet ({', '.join(record.states())}).",
                             f"Finish it first: `onboard resume --vo {vo}`.")
        if args.all and not args.p12 and not record.artifacts.p12:
            shared = _shared_p12(st, vo)
            if shared is not None:
                args.p12 = str(shared)
        return _drive(args, st, cfg, record)


def run(args: argparse.Namespace) -> int:
    from onboard.errors import OnboardError

    st = app.store()
    if not args.all:
        return _renew_one(args, st, st.pick(args.vo))
    vos = st.journeys()
    if not vos:
        raise StateError("there is no journey to renew.", "Start one first: `onboard start --vo VO`.")
    first: OnboardError | None = None
    given = args.p12
    for vo in vos:  # one VO waiting or failing does not hold up the others
        args.p12 = given
        try:
            _renew_one(args, st, vo)
        except OnboardError as e:
            if len(vos) > 1:
                print(f"onboard: VO {vo}: {e.message}", flush=True)
            first = first or e
    if first is not None:
        raise first
    return Exit.OK
