"""`onboard status`: the checklist of a journey: what is done, what is current, what comes next, what we
wait for.

Works on the raw JSON record (no pydantic, no pathlib) so that status starts fast (see onboard.quick).
"""

from __future__ import annotations

import sys

from onboard.errors import Exit
from onboard.ui import fmt_time, style
from onboard.workflow import SEP, Workflow

TYPE_CHECKING = False  # keep typing out of start-up
if TYPE_CHECKING:
    from typing import Any


def checklist(wf: Workflow, data: dict[str, Any]) -> list[dict[str, Any]]:
    current = data["state"] if isinstance(data["state"], list) else [data["state"]]
    leaves = {p.rsplit(SEP, 1)[-1] for p in current}
    parents = {p.split(SEP, 1)[0] for p in current if SEP in p}
    completed = data.get("completed", {})
    waits = data.get("waits", {})
    ended = len(current) == 1 and wf.state(current[0]).final and not wf.state(current[0]).parent
    rows = []
    for name in wf.order():
        st = wf.states[name]
        if st.final and not st.parent and name not in leaves and (name != "done" or ended):
            continue  # an end is listed once reached; `done` is listed as the goal until then
        row: dict[str, Any] = {"state": name, "description": st.description, "region": st.region}
        if name in leaves:
            row["status"] = "done" if st.final else ("waiting" if name in waits else "current")
            if name in waits:
                w = waits[name]
                row.update(
                    waiting_for=w.get("what"),
                    since=w.get("since"),
                    next_check_after=w.get("next_check_after"),
                    checks=w.get("checks"),
                )
        elif name in parents:
            row["status"] = "current"
        elif name in completed:
            row["status"] = "done"
            row["at"] = completed[name]
        else:
            row["status"] = "skipped" if ended else "next"
        rows.append(row)
    return rows


MARKS = {"done": ("✓", "32"), "current": ("▶", "1;34"), "waiting": ("⏳", "33"), "next": ("·", "2"),
         "skipped": ("-", "2")}


def render(vo: str, wf: Workflow, data: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    out = sys.stdout
    lines = [style(f"Journey for VO {vo}", "1", out) + f"  ({wf.title})"]
    for row in rows:
        mark, colour = MARKS[row["status"]]
        indent = "    " if row["region"] else "  "
        text = f"{indent}{style(mark, colour, out)} {row['description']}"
        if row["status"] == "waiting":
            text += f"\n{indent}    waiting for {row['waiting_for']} since {fmt_time(row['since'])}"
            text += f"; next check {fmt_time(row['next_check_after'])}" if row.get("next_check_after") else \
                "; checked again at each `onboard resume`"
        lines.append(text)
    err = data.get("last_error")
    if err:
        lines.append(
            style(f"  last error ({fmt_time(err['at'])}, {err['step']}): {err['message']}", "31", out)
        )
        if err.get("hint"):
            lines.append(f"    {err['hint']}")
    if data.get("outcome"):
        lines.append(f"  outcome: {data['outcome']}")
    fqans = data.get("artifacts", {}).get("fqans")
    if fqans:
        lines.append(f"  VO attributes: {', '.join(fqans)}")
    return "\n".join(lines)


def show(vo: str | None, as_json: bool) -> int:
    """Print the journey of `vo` (or of the only VO there is); the exit code."""
    from onboard import paths, store, workflow

    root = paths.locate("state")
    vo = store.pick_journey(root, vo)
    data = store.read_journey(root, vo)
    wf = workflow.load_cached(data["workflow"], root)
    rows = checklist(wf, data)
    if not as_json:
        print(render(vo, wf, data, rows))
        return Exit.OK
    import json

    due = [w["next_check_after"] for w in data.get("waits", {}).values() if w.get("next_check_after")]
    print(json.dumps({
        "vo": vo, "workflow": wf.name, "state": data["state"], "checklist": rows,
        "next_check_after": min(due, default=None),
        "last_error": data.get("last_error"), "artifacts": data.get("artifacts", {}),
        "outcome": data.get("outcome", ""),
    }, indent=2, ensure_ascii=False))
    return Exit.OK
