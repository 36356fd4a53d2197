"""Builds what a journey command needs: configuration, store, UI, secrets, workflow and engine."""

from __future__ import annotations

import contextlib
from pathlib import Path

from onboard import paths
from onboard.store import Store
from onboard.ui import UI

TYPE_CHECKING = False  # keep typing out of start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from typing import Any


def store() -> Store:
    return Store(paths.state_dir())


class Run:
    """One run of the engine over one journey, with everything its steps share."""

    def __init__(self, config: Any, store: Store, ui: UI, record: Any, options: dict[str, Any] | None = None,
                 now: Any = None):
        self.config, self.store, self.ui, self.record = config, store, ui, record
        self.options = options or {}
        self.now = now

    def engine(self):
        from onboard import steps, workflow
        from onboard.engine import Engine
        from onboard.secrets import Secrets
        from onboard.state import utcnow
        from onboard.steps.context import StepContext

        opts = self.options
        creds = self.config.credentials
        secrets = Secrets(
            self.ui,
            passphrase_file=opts.get("passphrase_file"),
            passphrase_stdin=bool(opts.get("passphrase_stdin")),
            passphrase_command=creds.passphrase_command,
            config_passphrase_file=creds.passphrase_file,
        )
        wf = workflow.load(self.record.workflow, steps.names())
        ctx = StepContext(
            record=self.record,
            config=self.config,
            ui=self.ui,
            secrets=secrets,
            checkpoint=lambda: self.store.save(self.record),
            now=self.now or utcnow,
            options=opts,
        )
        return Engine(wf, self.record, self.store, ctx, steps.resolve)


@contextlib.contextmanager
def journey(args: argparse.Namespace) -> Iterator[tuple[Store, Any, str, Any]]:
    """The store, the configuration, the VO (--vo, or the only journey's) and its journey record, under the
    journey's lock: what resume and confirm both work on."""
    st = store()
    vo = st.pick(args.vo)
    cfg = load_config(args)
    with st.lock(vo):
        yield st, cfg, vo, st.load(vo)


def load_config(args: argparse.Namespace, *, required: bool = False):
    from onboard import config

    return config.load(Path(args.config) if getattr(args, "config", None) else None, required=required)


def new_record(vo: str, workflow_name: str, initial: str):
    from onboard.state import JourneyRecord

    return JourneyRecord(vo=vo, workflow=workflow_name, state=initial)


def _options(args: argparse.Namespace) -> dict:
    return {"p12": Path(args.p12) if args.p12 else None,
            "passphrase_file": Path(args.passphrase_file) if args.passphrase_file else None,
            "passphrase_stdin": args.passphrase_stdin, "trust_host_key": args.trust_host_key,
            "wait": bool(getattr(args, "wait", False))}  # steps may block on IMAP IDLE only with --wait


def drive(args: argparse.Namespace, st, cfg, record) -> int:
    """Run the journey's engine as far as it goes (with --wait: through the waits, up to --timeout); 0 at
    `done`, the Waiting error (exit 75) at a wait, an error naming the end reached otherwise. What `start`,
    `resume` and `renew` share."""
    import time

    from onboard.errors import Waiting
    from onboard.ui import UI

    ui = UI(quiet=args.quiet)
    run = Run(cfg, st, ui, record, _options(args))
    engine = run.engine()
    deadline = time.monotonic() + args.timeout if args.wait and args.timeout else None
    try:
        while True:
            result = engine.run()
            if result.finished:
                return _finish(ui, record)
            due = result.next_check_after
            what = "; ".join(result.waiting_for or ["the outside world"])
            if not args.wait:
                raise Waiting(what, due)
            pause = max(0.0, (due - engine.ctx.now()).total_seconds()) if due else 2.0
            if deadline is not None and time.monotonic() + pause > deadline:
                remaining = max(0.0, deadline - time.monotonic())
                _sleep_showing(ui, what, due, remaining)
                raise Waiting(what, due, "Gave up waiting (--timeout); `onboard resume --wait` goes on.")
            _sleep_showing(ui, what, due, pause)
    finally:
        engine.ctx.close()
        if cfg.ca.provider == "sandbox" and cfg.ca.portal_url:  # orientation: the instructor's board
            from onboard.orientation.report import send

            send(cfg, record)


def _sleep_showing(ui, what: str, due, seconds: float) -> None:
    """Sleep, showing on a terminal what we wait for and when we look next."""
    import sys
    import time

    from onboard.ui import fmt_time

    end = time.monotonic() + seconds
    live = sys.stderr.isatty()
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        if live:
            when = fmt_time(due) if due else "soon"
            sys.stderr.write(f"\r\033[K⏳ waiting for {what} — next check {when} (in {int(left)} s)")
            sys.stderr.flush()
        time.sleep(min(1.0, left))
    if live:
        sys.stderr.write("\r\033[K")


def _finish(ui, record) -> int:
    from onboard.errors import Exit

    states = record.states()
    if states == ["done"]:
        ui.say(f"Done: your credential for VO {record.vo} works.")
        return Exit.OK
    reason = f": {record.outcome}" if record.outcome else ""
    from onboard.errors import OnboardError

    code = Exit.REJECTED if "rejected" in states else Exit.EXPIRED if "expired" in states else Exit.ERROR
    if record.workflow.startswith("renew-"):  # never a second registration: the membership is there
        raise OnboardError(f"the renewal for VO {record.vo} ended in '{states[0]}'{reason}.",
                           f"Ask the VO's administrators to add your new certificate "
                           f"({record.artifacts.certificate.subject_dn}) to your membership.", exit_code=code)
    raise OnboardError(f"the journey for VO {record.vo} ended in '{states[0]}'{reason}.",
                       f"Ask the VO's administrators why, then `onboard reset --vo {record.vo}` and "
                       f"`onboard start --vo {record.vo}` to try again.", exit_code=code)
