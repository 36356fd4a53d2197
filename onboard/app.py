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
