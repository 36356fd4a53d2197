"""Crash consistency (issue 8, part 1): the whole journey against the sandbox and a real voms-server,
killed with SIGKILL or interrupted with SIGINT (Ctrl-C) at kill points, then resumed to `done`.

See killpoints.py for what a run is and what is compared. This module is bounded for the test suite:

* SIGKILL at every kill point of the sandbox journey that leaves a distinct state behind: every state
  write (its temp file created, written, renamed), history line, credential file operation, HTTP request,
  SSH/SFTP operation, before and after each -- except an "after" point directly followed by the next
  "before" point, where nothing outside the process changes in between (killed there or there, the
  world is the same: see killpoints.distinct_states);
* the same for the obtain phase of the portal journey (the browser download taken in by the watcher),
  the only part that differs from the sandbox journey (both less the twins named in suite_points);
* SIGINT at a representative subset: the first point of each kind, every transition (each record write
  whose state changes) and the points around the registration POST and the remote convert.

`bench/crash` runs EVERY point (the equivalent ones too) with both signals and both journeys.
Each sweep here writes its figures to crash-summary.json in the test's temporary directory and prints
how many points were exercised.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.lib.tools import require_tool

from .killpoints import Grid, Run, distinct_states, point_kinds, summary

pytestmark = [pytest.mark.slow, pytest.mark.servers]  # the grid: sandbox, MariaDB + voms


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    for tool in ("mariadbd", "mariadb-install-db", "voms", "voms-proxy-init", "openssl"):
        require_tool(tool)
    g = Grid(tmp_path_factory.mktemp("crash")).start()
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture(scope="module")
def reference(grid) -> Run:
    return grid.reference("sandbox")


def _report(tmp_path_factory, name: str, ref: Run, runs: list[Run], seconds: float) -> dict:
    figures = summary(ref, runs, seconds)
    out = tmp_path_factory.getbasetemp() / "crash-summary.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data[name] = figures
    out.write_text(json.dumps(data, indent=2))
    print(f"\n{name}: kill points exercised: {figures['exercised']} of {figures['kill_points_total']}, "
          f"survived {figures['survived']}/{figures['exercised']} in {figures['seconds']} s ({out})")
    return figures


def _failures(runs: list[Run]) -> str:
    return "\n".join(r.summary() for r in runs if not r.ok)


def test_the_reference_journey_passes_every_kind_of_kill_point(reference):
    kinds = point_kinds(reference.points)
    for kind in ("write_atomic", "history", "install", "obtain", "unlink", "http", "ssh", "sftp"):
        assert kinds.get(kind), f"no kill point of kind {kind}: {sorted(kinds)}"
    assert len(reference.points) > 100
    snap = reference.snapshot
    assert snap["record"]["state"] == "done"
    once = {"submitted": 1, "confirmed": 1, "approved": 1}
    assert snap["server"] == {"requests": ["APPROVED"], "events": once, "members": 1}
    names = set(snap["files"])
    assert {"submit/.globus/usercert.pem", "submit/.globus/userkey.pem", "submit/.globus/usercred.p12",
            "home/.globus/usercert.pem", "home/.globus/userkey.pem"} <= names
    assert snap["files"]["submit/.globus/userkey.pem"]["mode"] == "0o400"
    assert not [n for n in names if "backup." in n or n.endswith(".tmp")]
    assert reference.problems == []


def suite_points(labels: list[str]) -> list[int]:
    """distinct_states, less one kind of twin: a record's temp file just created (empty) leaves the next
    run what the same file written whole does (the old record and a stale temp file); the suite kills at
    the empty one of the first record write only, bench/crash at all of them."""
    points = distinct_states(labels)
    empty = [i for i in points if labels[i - 1].startswith("write_atomic:os.open(") and
             labels[i - 1].endswith(":done")]
    return [i for i in points if i not in empty[1:]]


GROUPS = {
    "state": ("write_atomic", "history"),  # every transition and checkpoint: the record, the history
    "files": ("install", "obtain", "take", "unlink"),  # the credential files, the obtained PKCS#12
    "network": ("http", "ssh", "sftp"),  # requests to the registration server, the submit host
}


@pytest.mark.timeout(900)  # a sweep of many runs; each process has its own timeout (killpoints.py)
@pytest.mark.parametrize("group", list(GROUPS))
def test_sigkill_at_every_distinct_kill_point_of_the_sandbox_journey(group, grid, reference,
                                                                     tmp_path_factory):
    """Every point of the group's kinds that leaves a distinct state, one killed run each, resumed to
    done; the three groups together are every distinct kill point of the journey."""
    kinds = point_kinds(reference.points)
    assert set(kinds) <= {k for g in GROUPS.values() for k in g}, f"a kind in no group: {sorted(kinds)}"
    mine = {i for k in GROUPS[group] for i in kinds.get(k, [])}
    points = [i for i in suite_points(reference.points) if i in mine]
    assert points
    started = time.monotonic()
    runs = grid.sweep(reference, points, "KILL")
    seconds = time.monotonic() - started
    figures = _report(tmp_path_factory, f"sigkill-sandbox-{group}", reference, runs, seconds)
    assert all(r.fired for r in runs), "a kill point was not reached: " + ", ".join(
        str(r.kill_at) for r in runs if not r.fired)
    assert figures["survived"] == figures["exercised"], _failures(runs)


@pytest.mark.timeout(600)
def test_sigkill_in_the_obtain_phase_of_the_portal_journey(grid, tmp_path_factory):
    """The browser download (Firefox's .part renamed), taken in by the watcher: every point up to the
    first credential file written by the convert step."""
    ref = grid.reference("portal")
    assert ref.problems == []
    first_install = next(i for i, label in enumerate(ref.points, 1) if label.startswith("install:"))
    points = [i for i in suite_points(ref.points) if i < first_install]
    assert any("take" in ref.points[i - 1] for i in points)
    started = time.monotonic()
    runs = grid.sweep(ref, points, "KILL")
    figures = _report(tmp_path_factory, "sigkill-portal-obtain", ref, runs, time.monotonic() - started)
    assert figures["survived"] == figures["exercised"], _failures(runs)


def representative(labels: list[str]) -> list[int]:
    """The first point of each kind; every transition (both sides of the rename that makes a new state
    the record's); the points around the side effects that must not happen twice; and the regressions: a
    Ctrl-C just after a file was created (the first record temp file) or renamed into place (install)."""
    chosen: set[int] = {ids[0] for ids in point_kinds(labels).values()}
    last_state = None
    first_tmp = True
    for i, label in enumerate(labels, 1):
        if label.startswith("write_atomic:os.replace(") and " in record state=" in label:
            state = label.split(" in record state=", 1)[1].removesuffix(":done")
            if state != last_state:
                chosen.add(i)
                if label.endswith(":done"):
                    last_state = state
        if first_tmp and label.startswith("write_atomic:os.open(") and label.endswith(":done"):
            chosen.add(i)
            first_tmp = False
        if any(k in label for k in ("submit-request", "confirm-request", "exec(convert)", "posix-rename",
                                    "install:commit", "take_private", "install:os.rename(")):
            chosen.add(i)
    return sorted(chosen)


@pytest.mark.timeout(600)
def test_sigint_at_representative_points_is_a_clean_interrupt(grid, reference, tmp_path_factory):
    """Ctrl-C: exit 130, one line and a hint (no traceback), the state file intact, and resume finishes."""
    points = representative(reference.points)
    started = time.monotonic()
    runs = grid.sweep(reference, points, "INT")
    figures = _report(tmp_path_factory, "sigint-sandbox", reference, runs, time.monotonic() - started)
    interrupted = [p for r in runs for p in r.processes if p.fired]
    assert len(interrupted) == len(runs)
    for p in interrupted:
        assert p.code == 130 and "Traceback" not in p.stderr and "resume" in p.stderr, p.stderr
    assert figures["survived"] == figures["exercised"], _failures(runs)


def test_a_plain_process_counts_the_same_points_and_survives_too(grid, reference, tmp_path):
    """The sweeps fork each onboard from a zygote that imported onboard once (a real process, killed for
    real); a plain `python -c` process reaches the same kill points in the same order and survives a kill
    right after the registration request reached the server."""
    from .killpoints import Launcher

    zygote = grid.launcher
    grid.launcher = Launcher(tmp_path, fork=False).start()
    try:
        plain = grid.reference("sandbox")
        assert plain.points == reference.points
        posted = next(i for i, label in enumerate(reference.points, 1)
                      if "submit-request" in label and label.endswith(":after"))
        run = grid.run_killed(reference, posted, "KILL")
    finally:
        grid.launcher = zygote
    assert run.ok, run.summary()
    assert run.snapshot["server"]["events"] == {"submitted": 1, "confirmed": 1, "approved": 1}
