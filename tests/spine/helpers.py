from __future__ import annotations

from pathlib import Path

from onboard import workflow
from onboard.engine import Engine
from onboard.state import JourneyRecord, utcnow
from onboard.store import Store
from onboard.ui import UI
from tests.lib.context import step_context
from tests.spine import fake_steps


def make_engine(state_dir: Path, vo: str = "testvo", now=utcnow, wf_name: str = "voms-admin") -> Engine:
    store = Store(state_dir)
    wf = workflow.load(wf_name, set(fake_steps.STEP_NAMES))
    record = store.load(vo) if store.exists(vo) else JourneyRecord(vo=vo, workflow=wf.name, state=wf.initial)
    store.save(record)
    ctx = step_context(record=record, ui=UI(quiet=True, interactive=False),
                       checkpoint=lambda: store.save(record), now=now)
    return Engine(wf, record, store, ctx, fake_steps.resolve)
