"""Workflows as data: load `workflows/*.toml`, validate it, and describe it for `status`.

A workflow file has a [workflow] table (name, title, initial), a [states.NAME] table per state and a
[[transitions]] array. A state may be a wait (`wait = true`), an end (`final = true`), or run
`regions` side by side: `regions = { vo = ["register", ...], host = ["deliver", ...] }`, each region
starting at its first state and ending in a final state; the parallel state's own transition (with no
step) fires once every region has ended. Every transition names a trigger, a source, a dest and
usually the step that does its work; a transition without a step is an outcome a step may choose
(e.g. `rejected`) or the join of a parallel state.

This module imports nothing heavy: `onboard status` uses it.
"""

from __future__ import annotations

import os
import sys

from onboard.errors import WorkflowError

TYPE_CHECKING = False  # typing, dataclasses and pathlib cost start-up time that `onboard status` cannot spare
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

SEP = "/"  # separator of nested state names: enrol/vo/register


class State:
    def __init__(self, name: str, description: str, wait: bool = False, final: bool = False,
                 regions: dict[str, list[str]] | None = None):
        self.name = name  # short name, unique in the workflow
        self.path = name  # full name in the machine: enrol/vo/register
        self.description = description
        self.wait = wait
        self.final = final
        self.parent: str | None = None  # the parallel state's name
        self.region: str | None = None
        self.regions = regions or {}


class Transition:
    def __init__(self, trigger: str, source: str, dest: str, step: str | None = None):
        self.trigger, self.source, self.dest, self.step = (
            trigger,
            source,
            dest,
            step,
        )  # source/dest: short names


class Workflow:
    def __init__(self, name: str, title: str, initial: str, states: dict[str, State],
                 transitions: list[Transition], file: Path | str):
        self.name, self.title, self.initial = name, title, initial
        self.states, self.transitions, self.file = states, transitions, file

    def state(self, name_or_path: str) -> State:
        return self.states[name_or_path.rsplit(SEP, 1)[-1]]

    def outgoing(self, name: str) -> list[Transition]:
        return [t for t in self.transitions if t.source == name]

    def main_transition(self, name: str) -> Transition | None:
        """The transition whose step does the work of state `name` (at most one per state)."""
        return next((t for t in self.outgoing(name) if t.step), None)

    def join_transition(self, parallel: str) -> Transition | None:
        return next((t for t in self.outgoing(parallel) if not t.step), None)

    def order(self) -> list[str]:
        """States in the order a journey meets them (for status): breadth-first from the initial state,
        a parallel state's regions listed after it, ends last."""
        seen: list[str] = []
        queue = [self.initial]
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.append(name)
            st = self.states[name]
            queue[0:0] = [m for members in st.regions.values() for m in members if m not in seen]
            queue.extend(t.dest for t in self.outgoing(name) if t.step or st.regions)
            queue.extend(t.dest for t in self.outgoing(name) if not t.step and not st.regions)
        # outcomes (ends reached without a step) after the happy path
        ends = [n for n in seen if self.states[n].final and self.states[n].parent is None]
        happy = [n for n in seen if n not in ends]
        return happy + sorted(ends, key=lambda n: (n != "done", n))

    def machine_states(self) -> list[Any]:
        """The `states` argument of a transitions HierarchicalMachine."""

        def spec(name: str) -> Any:
            st = self.states[name]
            if st.regions:
                return {"name": name, "parallel": [
                    {"name": region, "children": [spec(m) for m in members], "initial": members[0]}
                    for region, members in st.regions.items()]}
            # `final` stays ours: transitions 0.9's final-state bookkeeping fails on parallel states
            # next to top-level finals, and the engine does its own join (see Engine.run).
            return name

        return [spec(n) for n, st in self.states.items() if st.parent is None]

    def machine_transitions(self) -> list[dict[str, Any]]:
        return [{"trigger": t.trigger, "source": self.states[t.source].path, "dest": self.states[t.dest].path,
                 "step": t.step} for t in self.transitions]


def _workflows_dir() -> str:
    """Installed wheels carry the workflows inside the package; a source checkout has them at the top."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "workflows"), os.path.join(os.path.dirname(here), "workflows")):
        if os.path.isdir(candidate):
            return candidate
    raise WorkflowError("the workflows directory is missing from this installation.",
                        "Reinstall onboard; the wheel ships onboard/workflows/*.toml.")


def workflows_dir() -> Path:
    from pathlib import Path

    return Path(_workflows_dir())


def available() -> list[str]:
    return sorted(p.stem for p in workflows_dir().glob("*.toml"))


def name_for(cfg, vo: str, explicit: str | None) -> str:
    """The workflow a journey for `vo` follows: the one asked for, else the kind of the VO's service."""
    if explicit:
        name = explicit
    else:
        from onboard import catalog

        entry = catalog.lookup(vo, cfg)  # config [vos.<vo>] over the shipped catalog
        name = entry.service if entry else "voms-admin"
    if name not in available():
        from onboard.errors import UsageError

        raise UsageError(f"no workflow '{name}'.", f"Known workflows: {', '.join(available())}.")
    return name


def _read_toml(path: Path, name_or_file: str | Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowError(f"no workflow '{name_or_file}' (looked for {path}).",
                            f"Known workflows: {', '.join(available()) or 'none'}.") from None
    except tomllib.TOMLDecodeError as e:
        raise WorkflowError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:  # tomllib recurses per nesting level
        raise WorkflowError(f"{path}: not valid TOML: arrays or tables nested too deep to read.") from None


def _file(name_or_file: str | Path) -> str:
    """The file of a workflow named like `voms-admin`, or given as a path to a .toml file."""
    text = os.fspath(name_or_file)
    return text if text.endswith(".toml") else os.path.join(_workflows_dir(), f"{text}.toml")


def _path(name_or_file: str | Path) -> Path:
    from pathlib import Path

    return Path(_file(name_or_file))


def load(name_or_file: str | Path, known_steps: set[str] | None = None) -> Workflow:
    path = _path(name_or_file)
    return parse(_read_toml(path, name_or_file), path, known_steps)


def load_cached(name_or_file: str | Path, cache_dir: str) -> Workflow:
    """load() for read-only commands: the parsed TOML is kept as JSON in cache_dir, keyed by the file's
    size and mtime, because importing a TOML parser (and pathlib) costs more start-up time than
    `onboard status` has."""
    import json

    file = _file(name_or_file)
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return load(name_or_file)
    key = f"{file}:{st.st_size}:{st.st_mtime_ns}"
    cache = os.path.join(cache_dir, f".workflow-{os.path.basename(file)[:-5]}.json")
    try:
        with open(cache, encoding="utf-8") as f:
            cached = json.load(f)
        if cached.get("key") == key:
            return parse(cached["data"], file)
    except (OSError, ValueError, AttributeError):
        pass
    from pathlib import Path

    from onboard.store import write_atomic

    path = Path(file)
    data = _read_toml(path, name_or_file)
    wf = parse(data, path)
    try:
        write_atomic(Path(cache), json.dumps({"key": key, "data": data}).encode())
    except OSError:
        pass  # a cache that cannot be written is no error
    return wf


def parse(data: dict[str, Any], path: Path | str, known_steps: set[str] | None = None) -> Workflow:
    def fail(key: str, what: str) -> WorkflowError:
        return WorkflowError(f"{path}: {key}: {what}")

    def text(table: dict[str, Any], key: str, where: str, required: bool = True) -> str:
        value = table.get(key, "")
        if not isinstance(value, str) or (required and not value):
            raise fail(f"{where}.{key}", "a non-empty string is required")
        return value

    head = data.get("workflow")
    if not isinstance(head, dict):
        raise fail("[workflow]", "the table is missing")
    for key in data:
        if key not in ("workflow", "states", "transitions"):
            raise fail(key, "unknown table (expected workflow, states, transitions)")
    name, initial = text(head, "name", "workflow"), text(head, "initial", "workflow")
    title = text(head, "title", "workflow", required=False) or name

    raw_states = data.get("states")
    if not isinstance(raw_states, dict) or not raw_states:
        raise fail("[states]", "at least one state is required")
    states: dict[str, State] = {}
    for sname, table in raw_states.items():
        where = f"states.{sname}"
        if not isinstance(table, dict):
            raise fail(where, "must be a table")
        if SEP in sname or not sname.replace("_", "").isalnum():
            raise fail(where, "a state name is letters, digits and '_'")
        unknown = set(table) - {"description", "wait", "final", "regions"}
        if unknown:
            raise fail(
                f"{where}.{sorted(unknown)[0]}", "unknown key (expected description, wait, final, regions)"
            )
        regions = table.get("regions", {})
        if not isinstance(regions, dict) or not all(
                isinstance(v, list) and v and all(isinstance(m, str) for m in v) for v in regions.values()):
            raise fail(f"{where}.regions", "a table of region = [state, ...] lists")
        states[sname] = State(sname, text(table, "description", where), bool(table.get("wait", False)),
                              bool(table.get("final", False)), regions=regions)
    for pname, st in list(states.items()):
        for region, members in st.regions.items():
            for m in members:
                if m not in states:
                    raise fail(f"states.{pname}.regions.{region}", f"unknown state '{m}'")
                if states[m].parent:
                    raise fail(
                        f"states.{pname}.regions.{region}", f"state '{m}' is already in {states[m].parent}"
                    )
                if states[m].regions:
                    raise fail(f"states.{pname}.regions.{region}", "nested parallel states are not supported")
                states[m].parent, states[m].region = pname, region
                states[m].path = SEP.join((pname, region, m))
            if not states[members[-1]].final and not any(states[m].final for m in members):
                raise fail(f"states.{pname}.regions.{region}", "a region needs a final state to end in")
    if initial not in states or states[initial].parent:
        raise fail("workflow.initial", f"'{initial}' is not a top-level state")

    raw_tr = data.get("transitions")
    if not isinstance(raw_tr, list) or not raw_tr:
        raise fail("[[transitions]]", "at least one transition is required")
    transitions: list[Transition] = []
    for i, table in enumerate(raw_tr):
        where = f"transitions[{i}]"
        unknown = set(table) - {"trigger", "source", "dest", "step"}
        if unknown:
            raise fail(f"{where}.{sorted(unknown)[0]}", "unknown key (expected trigger, source, dest, step)")
        t = Transition(
            text(table, "trigger", where),
            text(table, "source", where),
            text(table, "dest", where),
            table.get("step") or None,
        )
        for end in ("source", "dest"):
            if getattr(t, end) not in states:
                raise fail(f"{where}.{end}", f"unknown state '{getattr(t, end)}'")
        if t.step is not None:
            if not isinstance(t.step, str):
                raise fail(f"{where}.step", "a step name is required")
            if known_steps is not None and t.step not in known_steps:
                raise fail(
                    f"{where}.step", f"unknown step '{t.step}' (known: {', '.join(sorted(known_steps))})"
                )
        src = states[t.source]
        if src.final:
            raise fail(f"{where}.source", f"'{t.source}' is final: nothing leaves it")
        if src.regions and t.step:
            raise fail(f"{where}.step", f"'{t.source}' is parallel: it is left by a join, which runs no step")
        if any(o.trigger == t.trigger and o.source == t.source for o in transitions):
            raise fail(f"{where}.trigger", f"'{t.trigger}' from '{t.source}' is defined twice")
        if t.step and any(o.step and o.source == t.source for o in transitions):
            raise fail(f"{where}.step", f"'{t.source}' already has a transition with a step")
        transitions.append(t)

    wf = Workflow(name, title, initial, states, transitions, path)
    _check_graph(wf, fail)
    return wf


def _check_graph(wf: Workflow, fail) -> None:
    # every top-level journey must be able to end
    if not any(st.final and st.parent is None for st in wf.states.values()):
        raise fail("[states]", "no terminal state (a top-level state with final = true)")
    for st in wf.states.values():
        outgoing = wf.outgoing(st.name)
        if st.final:
            continue
        if st.regions:
            if not wf.join_transition(st.name):
                raise fail(
                    f"states.{st.name}", "a parallel state needs a transition without a step (its join)"
                )
            continue
        if not any(t.step for t in outgoing):
            kind = "a wait" if st.wait else "a state"
            raise fail(f"states.{st.name}", f"{kind} with no way out (no transition with a step leaves it)")
    # reachability from the initial state (a parallel state reaches its regions' first states)
    reach: set[str] = set()
    todo = [wf.initial]
    while todo:
        n = todo.pop()
        if n in reach:
            continue
        reach.add(n)
        todo.extend(t.dest for t in wf.outgoing(n))
        todo.extend(members[0] for members in wf.states[n].regions.values())
    for n in wf.states:
        if n not in reach:
            raise fail(f"states.{n}", "unreachable from the initial state")
