"""start, resume, status, history, reset: the journey commands."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from onboard import app
from onboard.app import drive as _drive  # the run loop, shared with `onboard renew`
from onboard.errors import Exit, StateError
from onboard.ui import fmt_time


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "start":
        p.add_argument("--vo", required=True, help="the VO to join, e.g. cms")
        p.add_argument("--workflow", help="journey definition (default: from the VO's registration service)")
    elif name in ("resume", "status", "history", "reset"):
        p.add_argument("--vo", help="the VO of the journey (default: the only journey)")
    if name in ("start", "resume"):
        p.add_argument(
            "--wait", action="store_true", help="keep going through waits until done (or --timeout)"
        )
        p.add_argument(
            "--timeout", type=float, metavar="S", help="with --wait: give up waiting after S seconds"
        )
        p.add_argument("--p12", metavar="FILE", help="a PKCS#12 from the CA already at hand")
        p.add_argument("--passphrase-file", metavar="F", help="file whose first line is the key's passphrase")
        p.add_argument(
            "--passphrase-stdin", action="store_true", help="read the passphrase from standard input"
        )
        p.add_argument(
            "--trust-host-key",
            metavar="SHA256:...",
            help="accept the submit host's key with this fingerprint",
        )
    if name in ("status", "history"):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    if name == "reset":
        p.add_argument("--yes", action="store_true", help="do not ask")


def run(args: argparse.Namespace) -> int:
    return {"start": start, "resume": resume, "status": status, "history": history, "reset": reset}[
        args.command
    ](args)


def start(args: argparse.Namespace) -> int:
    from onboard import steps, workflow

    st = app.store()
    vo = st.pick(args.vo)
    cfg = app.load_config(args)
    if not st.exists(vo):
        from onboard import guide

        cfg = guide.before_start(
            args, cfg
        )  # first time: ask, write the config, show the plan; VO requirements
    with st.lock(vo):
        if st.exists(vo):
            raise StateError(
                f"a journey for VO '{vo}' exists already.",
                f"Continue it with `onboard resume --vo {vo}`, or start over with `onboard reset --vo {vo}`.",
            )
        wf = workflow.load(workflow.name_for(cfg, vo, args.workflow), steps.names())
        record = app.new_record(vo, wf.name, wf.initial)
        st.save(record)
        st.append_history(
            vo,
            **{
                "from": None,
                "to": wf.initial,
                "trigger": "start",
                "outcome": "ok",
                "error": None,
                "workflow": wf.name,
            },
        )
        return _drive(args, st, cfg, record)


def resume(args: argparse.Namespace) -> int:
    with app.journey(args) as (st, cfg, _vo, record):
        return _drive(args, st, cfg, record)


# -- read-only commands: no pydantic, no engine (they must start fast) --------------------------------

def status(args: argparse.Namespace) -> int:
    from onboard.status_view import show

    return show(args.vo, args.json)


def history(args: argparse.Namespace) -> int:
    st = app.store()
    vo = st.pick(args.vo)
    events = st.history(vo)
    if args.json:
        print(json.dumps(events, indent=2, ensure_ascii=False))
        return Exit.OK
    if not events:
        print(f"no history for VO {vo}.")
    for ev in events:
        line = (
            f"{fmt_time(ev.get('time'))}  {ev.get('trigger', ''):<12} {ev.get('from') or '-'} -> "
            f"{ev.get('to') or '-'}  {ev.get('outcome', '')}"
        )
        if ev.get("error"):
            line += f": {ev['error']}"
        elif ev.get("what"):
            line += f": {ev['what']}"
        print(line)
    return Exit.OK


def reset(args: argparse.Namespace) -> int:
    from onboard.ui import UI

    st = app.store()
    vo = st.pick(args.vo)
    if not st.exists(vo):
        raise StateError(f"there is no journey for VO '{vo}'.", "Nothing to reset.")
    if not args.yes and not UI().confirm(
        f"Forget the journey for VO {vo}? Credentials and files stay", flag="--yes"
    ):
        print("nothing changed.")
        return Exit.OK
    with st.lock(vo):
        st.delete(vo)
        st.append_history(vo, **{"from": None, "to": None, "trigger": "reset", "outcome": "ok", "error": None,
                                 "time_reset": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    print(f"journey for VO {vo} forgotten; its history stays in {st.history_path(vo)}.")
    return Exit.OK
