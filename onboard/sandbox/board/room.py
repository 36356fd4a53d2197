"""The picture of the room for the board page: how many trainees stand at each stage, and how long each
stage takes (the median over the trainees who have left it), so the instructor sees at a glance where the
room is stuck — the e-mail? the approval? the submit host?"""

from __future__ import annotations

import statistics
from typing import Any

from onboard.sandbox.board.rows import STAGES, Row

# the way through, in order: a stage's time is from entering it to entering the next one reached
PATH = ["certificate", "registered", "confirmed", "approved", "delivered", "done"]


def stage_seconds(row: Row) -> dict[str, float]:
    """stage -> seconds this trainee spent in it, for the stages they have left."""
    out: dict[str, float] = {}
    reached = [s for s in PATH if s in row.entered]
    for here, nxt in zip(reached, reached[1:], strict=False):
        out[here] = max(0.0, row.entered[nxt] - row.entered[here])
    return out


def picture(rows: list[Row], now: float) -> list[dict[str, Any]]:
    """One entry per stage, in the order of the journey: count, median seconds spent there by those who
    left it (None: nobody has yet), and the longest current stay there (None: nobody is there)."""
    spent: dict[str, list[float]] = {s: [] for s in STAGES}
    for r in rows:
        for stage, secs in stage_seconds(r).items():
            spent[stage].append(secs)
    out = []
    for stage in STAGES:
        here = [r for r in rows if r.stage == stage]
        if stage in ("expired", "rejected") and not here:
            continue  # the two dead ends are shown only when someone is there
        out.append({
            "stage": stage,
            "count": len(here),
            "median_seconds": round(statistics.median(spent[stage]), 1) if spent[stage] else None,
            "longest_now_seconds": max((now - r.since for r in here if r.since is not None), default=None),
            "waiting_for": STAGES[stage][1],
        })
    return out
