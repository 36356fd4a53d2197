from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from onboard.config import Config
from onboard.state import JourneyRecord
from onboard.ui import UI
from tests.lib.context import step_context


class Ctx:
    """A StepContext over an in-memory record, a captured UI and a list of checkpoints."""

    def __init__(self, cfg: Config, options: dict | None = None, passphrase_file: Path | None = None):
        self.out, self.err = io.StringIO(), io.StringIO()
        self.ui = UI(interactive=False, out=self.out, err=self.err)
        self.record = JourneyRecord(vo="testvo", workflow="voms-admin", state="obtain")
        self.checkpoints = 0

        def checkpoint():
            self.checkpoints += 1
            # the record must always be serialisable as the store writes it
            self.record.model_dump_json()

        self.ctx = step_context(record=self.record, config=cfg, ui=self.ui, passphrase_file=passphrase_file,
                                checkpoint=checkpoint, now=lambda: datetime.now(timezone.utc), state="obtain",
                                options=options)

    def text(self) -> str:
        return self.out.getvalue() + self.err.getvalue()


@pytest.fixture
def make_ctx(onboard_env, tmp_path):
    def _make(**ca) -> Ctx:
        options = ca.pop("options", None) or {}
        pf = ca.pop("passphrase_file", None)
        if pf:
            options["passphrase_file"] = pf  # as app.Run passes --passphrase-file to the steps
        ca.setdefault("download_dir", tmp_path / "Downloads")
        ca.setdefault("open_browser", False)
        Path(ca["download_dir"]).mkdir(parents=True, exist_ok=True)
        return Ctx(Config.model_validate({"ca": ca}), options, pf)

    return _make
