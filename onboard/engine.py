"""The engine: a `transitions` machine built from a workflow, over a model that holds the journey record.

The record is saved after every transition (and after every wait or error), so a journey killed at any
moment restarts from the last state it reached. Work happens in each transition's `before` callback (the
step); a step that raises leaves the state as it was. Restoring uses the saved state as `initial`, never
`on_enter` callbacks.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onboard.errors import Interrupted, OnboardError, Outcome, WorkflowError
from onboard.state import JourneyRecord, LastError, Wait, utcnow
from onboard.steps.context import StepContext
from onboard.store import Store
from onboard.workflow import SEP, Workflow

# transitions.extensions' __init__ imports its asyncio machines and with them asyncio, a tenth of what
# `onboard start` imports; the engine uses none of them. A None in sys.modules makes that one import fail,
# which transitions expects (it catches the ImportError); the entry goes again right after.
_BLOCKED = "transitions.extensions.asyncio"
_block = _BLOCKED not in sys.modules
if _block:
    sys.modules[_BLOCKED] = None  # type: ignore[assignment]
try:
    from transitions.extensions.nesting import HierarchicalMachine, NestedState
finally:
    if _block:
        del sys.modules[_BLOCKED]


class _State(NestedState):
    separator = SEP  # state names contain '_', so nest with '/'


class _Machine(HierarchicalMachine):
    state_cls = _State


class Journey:
    """The machine's model: a plain object around the persisted record."""

    def __init__(self, record: JourneyRecord):
        self.record = record


@dataclass
class RunResult:
    """Where a run stopped: at an end, or waiting (with the earliest time worth checking again)."""

    finished: bool
    state: str | list[str]
    next_check_after: datetime | None = None
    waiting_for: list[str] | None = None


class Engine:
    def __init__(self, workflow: Workflow, record: JourneyRecord, store: Store, ctx: StepContext,
                 resolve_step: Callable[[str], Callable[[StepContext], None]]):
        self.workflow = workflow
        self.record = record
        self.store = store
        self.ctx = ctx
        self.resolve_step = resolve_step
        self.journey = Journey(record)
        transitions = []
        for t in workflow.machine_transitions():
            step = t.pop("step")
            if step:
                t["before"] = functools.partial(self._run_step, step)
            transitions.append(t)
        self.machine = _Machine(
            model=self.journey, states=workflow.machine_states(), transitions=transitions,
            initial=workflow.initial, auto_transitions=False, queued=True, send_event=True,
            after_state_change=self._after_change,
        )
        try:
            self.machine.set_state(record.state, self.journey)
        except ValueError:
            raise WorkflowError(
                f"the journey is in state {record.state!r}, which workflow {workflow.name} does not have.",
                "The workflow changed under the journey; `onboard reset` starts it over.",
            ) from None

    # -- callbacks ------------------------------------------------------------------------------
    def _run_step(self, step: str, event: Any) -> None:
        self.ctx.state = event.transition.source.rsplit(SEP, 1)[-1]
        self.ctx.ui.step(self.workflow.state(self.ctx.state).description)
        self.resolve_step(step)(self.ctx)

    def _after_change(self, event: Any) -> None:
        source = event.transition.source
        src = source.rsplit(SEP, 1)[-1]
        now = self.ctx.now()
        self.record.state = self.journey.state
        self.record.completed[src] = now
        self.record.waits.pop(src, None)
        if (
            not self.workflow.states[src].regions
            and self.record.last_error
            and self.record.last_error.step == src
        ):
            self.record.last_error = None
        self.store.save(self.record)
        self.store.append_history(
            self.record.vo,
            **{
                "from": source,
                "to": event.transition.dest,
                "trigger": event.event.name,
                "outcome": "ok",
                "error": None,
            },
        )

    # -- running --------------------------------------------------------------------------------
    def leaves(self) -> list[str]:
        st = self.journey.state
        return list(st) if isinstance(st, list) else [st]

    def finished(self) -> bool:
        st = self.journey.state
        return isinstance(st, str) and self.workflow.state(st).final

    def _due(self, leaf: str) -> bool:
        wait = self.record.waits.get(leaf)
        return not (wait and wait.next_check_after and wait.next_check_after > self.ctx.now())

    def run(self) -> RunResult:
        """Fire transitions until the journey ends or every active state waits for something not yet due.

        In a parallel state a failing region does not hold up the others: they go on, and the first
        error is raised once nothing else can move.
        """
        failed: dict[str, OnboardError] = {}
        while not self.finished():
            progressed = False
            before = self.journey.state
            for path in self.leaves():
                name = path.rsplit(SEP, 1)[-1]
                main = self.workflow.main_transition(name)
                if main is None or name in failed or not self._due(name):
                    continue  # a region that has ended, failed in this run, or waits for a later time
                try:
                    progressed |= self._fire(main.trigger, name)
                except OnboardError as e:
                    if not isinstance(before, list):
                        raise
                    failed[name] = e
                if self.journey.state != before and not isinstance(self.journey.state, list):
                    break  # left the parallel state (e.g. rejected): the other leaves are gone
            if isinstance(self.journey.state, list):
                parent = self.journey.state[0].split(SEP, 1)[0]
                if all(self.workflow.state(p).final for p in self.journey.state):
                    join = self.workflow.join_transition(parent)
                    assert join is not None  # validated
                    self.journey.trigger(join.trigger)
                    progressed = True
            if not progressed:
                break
        if failed:
            raise next(iter(failed.values()))
        waits = {
            k: w for k, w in self.record.waits.items() if k in {p.rsplit(SEP, 1)[-1] for p in self.leaves()}
        }
        due = [w.next_check_after for w in waits.values() if w.next_check_after]
        return RunResult(self.finished(), self.journey.state, min(due) if due else None,
                         [w.what for w in waits.values()] or None)

    def _fire(self, trigger: str, name: str) -> bool:
        from onboard.errors import Waiting

        self.record.attempts[name] = self.record.attempts.get(name, 0) + 1
        try:
            self.journey.trigger(trigger)
            return True
        except Waiting as w:
            old = self.record.waits.get(name)
            self.record.waits[name] = Wait(
                what=w.what,
                since=old.since if old else self.ctx.now(),
                next_check_after=w.next_check_after,
                checks=(old.checks + 1) if old else 1,
            )
            self.store.save(self.record)
            self.store.append_history(self.record.vo, **{"from": name, "to": name, "trigger": trigger,
                                                         "outcome": "waiting", "error": None, "what": w.what,
                                                         "next_check_after": w.next_check_after})
            return False
        except Outcome as o:
            self.record.outcome = o.reason
            if not any(t.trigger == o.trigger and t.source == name for t in self.workflow.transitions):
                raise WorkflowError(
                    f"step of '{name}' chose '{o.trigger}', which workflow {self.workflow.name} lacks.",
                    f"Add a transition '{o.trigger}' from '{name}' to {self.workflow.file}.",
                ) from None
            self.journey.trigger(o.trigger)
            return True
        except OnboardError as e:
            self._record_error(name, trigger, e.message, e.hint, int(e.exit_code))
            raise
        except KeyboardInterrupt:
            self.machine._transition_queue.clear()  # transitions clears it only for Exception
            self._record_error(name, trigger, "interrupted", "", 130)
            raise Interrupted("interrupted; the journey keeps the state it had reached.") from None

    def _record_error(self, name: str, trigger: str, message: str, hint: str, code: int) -> None:
        self.record.last_error = LastError(at=utcnow(), step=name, message=message, hint=hint, exit_code=code)
        self.store.save(self.record)
        self.store.append_history(self.record.vo, **{"from": name, "to": name, "trigger": trigger,
                                                     "outcome": "error", "error": message})
