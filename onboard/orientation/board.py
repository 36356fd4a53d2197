"""The instructor's board in the terminal: one line per trainee — where they stand, since when, what they
wait for, and the last thing that went wrong. The rows come from the sandbox's own records
(onboard/sandbox/board/rows.py, which the board page in the browser shows too)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from onboard.errors import one_line
from onboard.sandbox.board.rows import STAGES, Row, rows

__all__ = ["STAGES", "Row", "rows", "render", "as_json", "live"]


def render(rows_: list[Row], now: float | None = None, width: int = 120) -> str:
    now = time.time() if now is None else now
    if not rows_:
        return "No trainees yet: the board fills as the sandbox hands out certificates."
    counts: dict[str, int] = {}
    for r in rows_:
        counts[r.stage] = counts.get(r.stage, 0) + 1
    head = f"{len(rows_)} trainee(s): " + ", ".join(f"{counts[s]} {s}" for s in STAGES if s in counts)
    name_w = min(24, max(4, *(len(r.name) for r in rows_)))
    lines = [head, f"{'NAME':<{name_w}}  {'STAGE':<11} {'SINCE':>7}  WAITING FOR / LAST ERROR"]
    for r in rows_:
        # what trainees and servers wrote is shown escaped: no control character reaches the terminal
        tail = one_line(r.waiting_for)
        if r.last_error:
            tail = f"{tail}  ! {one_line(r.last_error)}" if tail else f"! {one_line(r.last_error)}"
        line = f"{one_line(r.name)[:name_w]:<{name_w}}  {r.stage:<11} {r.age(now):>7}  {tail}"
        lines.append(line[:width])
    return "\n".join(lines)


def as_json(rows_: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows_]


def live(directory: Path, interval: float = 2.0, out=None, iterations: int | None = None) -> None:
    """Redraw the board every `interval` seconds until Ctrl-C (or `iterations` redraws)."""
    import shutil
    import sys

    out = out or sys.stdout
    n = 0
    while iterations is None or n < iterations:
        width = shutil.get_terminal_size((120, 40)).columns
        text = render(rows(directory), width=width)
        if out.isatty():
            out.write("\033[H\033[2J")
        out.write(text + "\n")
        out.flush()
        n += 1
        if iterations is not None and n >= iterations:
            break
        time.sleep(interval)
