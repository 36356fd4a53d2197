"""Crash consistency of `onboard renew`: a trainee finishes the first year undisturbed, then renews, killed
at a kill point of the renewal and resumed (`onboard renew` again) until done; the end state must be the
reference renewal's (see killpoints.py for the points, the files compared and the trainee's world).

The renewal takes the path where the VO must be told: the trainee's name changed since the first year
(same CA, new subject), so VOMS-Admin's certificate request is sent with the old certificate and the
harness, as the VO administrator, approves it between two processes. (The CA switch, same subject from a
new CA, takes the same client path; it is global to the sandbox, so the parallel sweeps do not use it.)
The renewal's points are counted in a log of their own (renew-points.log), from 1.
"""

from __future__ import annotations

import time
from typing import Any

from .killpoints import (
    EXIT_INTERRUPTED,
    EXIT_WAITING,
    MAX_PROCESSES,
    VO,
    Grid,
    Process,
    Run,
    Trainee,
    _last_lines,
    _read_points,
    check_process,
    compare,
    drive,
    snapshot,
)


def renew_log(t: Trainee):
    return t.dir / "renew-points.log"


def approve_certificates(grid: Grid, t: Trainee) -> None:
    """The VO administrator approves the trainee's certificate request (the voms-server learns it)."""
    from onboard.sandbox.voms_admin import cert_requests

    for row in cert_requests.pending(grid.sandbox.ctx, VO):
        if row["email"] == t.email and row["status"] == "SUBMITTED":
            grid.wait_ready()
            cert_requests.approve(grid.sandbox.ctx, row["request_id"])


def server_state(grid: Grid, t: Trainee) -> dict[str, Any]:
    from onboard.sandbox.voms_admin import cert_requests

    state = grid.server_state(t)
    rows = [r for r in cert_requests.pending(grid.sandbox.ctx, VO) if r["email"] == t.email]
    state["certificate_requests"] = sorted(r["status"] for r in rows)
    state["member_ids"] = len({m["id"] for m in grid.sandbox.members(VO) if m["email"] == t.email})
    with grid.sandbox.ctx.db() as db:
        kinds: dict[str, int] = {}
        mine = "SELECT request_id FROM cert_req c JOIN usr u ON u.id = c.usr_id WHERE u.email=?"
        for e in db.execute(f"SELECT kind FROM event WHERE vo=? AND kind LIKE 'certificate-%' AND request_id "
                            f"IN ({mine})", (VO, t.email)):
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    state["certificate_events"] = kinds
    return state


def first_year(grid: Grid, tag: str) -> Trainee:
    """A trainee whose first journey is done (undisturbed), with the name changed for the renewal."""
    t = grid.new_trainee(tag)
    run = drive(grid, t)
    if not run.done:
        raise AssertionError(f"the first year did not finish: {run.summary()}")
    text = t.config.read_text()
    assert 'given_name = "Crash"' in text
    t.config.write_text(text.replace('given_name = "Crash"', 'given_name = "Renewed"'))
    return t


def drive_renewal(grid: Grid, t: Trainee, *, kill_at: int = 0, signal_name: str = "KILL") -> Run:
    """`onboard renew` until done (bounded); the harness approves certificate requests in between."""
    run = Run(trainee=t, kill_at=kill_at, signal_name=signal_name if kill_at else "")
    started = time.monotonic()
    log = renew_log(t)
    for i in range(MAX_PROCESSES):
        env = t.env()
        env["KILLPOINT_LOG"] = str(log)
        labels, fired = _read_points(log)
        env["KILLPOINT_BASE"] = str(len(labels))
        if kill_at and not fired:
            env.update(KILLPOINT_AT=str(kill_at), KILLPOINT_SIGNAL=signal_name)
        argv = ["--config", str(t.config), "renew", "--vo", VO, "--passphrase-file", str(t.passfile)]
        t0 = time.monotonic()
        code, out, err = grid.launcher.run(argv, env, t.dir, f"renew-{i + 1}")
        p = Process(["renew", *argv], code, out, err, time.monotonic() - t0)
        _, now_fired = _read_points(log)
        if now_fired and not fired:
            p.fired = run.fired = now_fired
        run.processes.append(p)
        run.problems += check_process(t, p, signal_name)
        if code == 0:
            run.done = True
            break
        killed = code in (-9, EXIT_INTERRUPTED)
        if code != EXIT_WAITING and not (killed and p.fired):
            run.problems.append(f"renew exited {code}: {_last_lines(err)}")
            break
        approve_certificates(grid, t)
    else:
        run.problems.append(f"not renewed after {MAX_PROCESSES} processes")
    run.points, _ = _read_points(log)
    run.seconds = time.monotonic() - started
    if run.done:
        run.snapshot = snapshot(grid, t)
        run.snapshot["server"] = server_state(grid, t)
        run.problems += check_renewed(t, run.snapshot)
    return run


def check_renewed(t: Trainee, snap: dict[str, Any]) -> list[str]:
    """The renewal's own promises: a renewal record at done, the old credential kept in ~/.globus and as a
    backup on the submit host, the new one installed there, one member holding both certificates."""
    problems = []
    record = snap["record"]
    if not record.get("workflow", "").startswith("renew-") or record.get("state") != "done":
        problems.append(f"record {record.get('workflow')} at {record.get('state')}")
    prev = record["artifacts"].get("extra", {}).get("renewal", {}).get("previous", {})
    old_sha = prev.get("certificate", {}).get("sha256", "")
    from pathlib import Path

    from onboard.credentials.installer import read_cert
    from onboard.credentials.model import Credential

    def sha(path: Path) -> str:
        try:
            return Credential(key=None, cert=read_cert(path)).sha256
        except (OSError, ValueError):
            return ""

    if not old_sha or sha(Path(prev.get("cert", "/nonexistent"))) != old_sha:
        problems.append("the old certificate is not where the first year left it")
    globus = t.submit_home / ".globus"
    if not any(sha(p) == old_sha for p in globus.glob("backup.*usercert.pem")):
        problems.append("the submit host kept no backup of the old usercert.pem")
    server = snap["server"]
    if server.get("member_ids") != 1:
        problems.append(f"{server.get('member_ids')} memberships instead of 1")
    return problems


def reference(grid: Grid) -> Run:
    t = first_year(grid, "renew-reference")
    run = drive_renewal(grid, t)
    if not run.ok:
        raise AssertionError(f"the uninterrupted renewal did not finish: {run.summary()}")
    return run


def run_killed(grid: Grid, ref: Run, at: int, signal_name: str = "KILL") -> Run:
    t = first_year(grid, f"renew-{signal_name.lower()}{at}")
    run = drive_renewal(grid, t, kill_at=at, signal_name=signal_name)
    run.problems += compare(ref, run, own_backups=True)
    return run


def transitions(labels: list[str]) -> list[int]:
    """Every transition of the renewal: both sides of each record write whose state differs from the last
    one written (the rename that makes it the record's), and the side effects that must not happen twice
    (the certificate request POST, the credential install's commit, the remote convert)."""
    chosen: list[int] = []
    last = None
    for i, label in enumerate(labels, 1):
        if label.startswith("write_atomic:os.replace(") and " in record state=" in label:
            state = label.split(" in record state=", 1)[1].removesuffix(":done")
            if state != last:
                chosen.append(i)
                if label.endswith(":done"):
                    last = state
        elif any(k in label for k in ("request-certificate", "install:commit", "exec(convert)",
                                      "history(renew)")):
            chosen.append(i)
    return chosen


def sweep(grid: Grid, ref: Run, points: list[int], signal_name: str = "KILL", workers: int = 2) -> list[Run]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_killed(grid, ref, p, signal_name), points))


