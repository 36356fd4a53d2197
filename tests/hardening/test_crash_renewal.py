"""Crash consistency of `onboard renew` (issue 17): killed (SIGKILL) at every transition of the renewal
and at the side effects that must not happen twice, then `onboard renew` again until done; the end state
is the uninterrupted renewal's (renewal_crash.py says what is compared). Against the sandbox and a real
voms-server, through the certificate-request path (the VO must be told about the new certificate)."""

from __future__ import annotations

import pytest

from tests.lib.tools import require_tool

from . import renewal_crash
from .killpoints import Grid, point_kinds

pytestmark = [pytest.mark.slow, pytest.mark.servers]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    for tool in ("mariadbd", "mariadb-install-db", "voms", "voms-proxy-init", "openssl"):
        require_tool(tool)
    g = Grid(tmp_path_factory.mktemp("crash-renew")).start()
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture(scope="module")
def reference(grid):
    return renewal_crash.reference(grid)


def test_the_reference_renewal_asks_the_vo_once_and_keeps_the_old_credential(reference):
    snap = reference.snapshot
    assert snap["record"]["workflow"] == "renew-voms-admin" and snap["record"]["state"] == "done"
    assert snap["server"]["certificate_requests"] == ["APPROVED"]
    assert snap["server"]["certificate_events"] == {"certificate-submitted": 1, "certificate-approved": 1}
    assert snap["server"]["member_ids"] == 1
    assert [n for n in snap["files"] if n.startswith("submit/.globus/backup.")], sorted(snap["files"])
    kinds = point_kinds(reference.points)
    for kind in ("write_atomic", "history", "install", "http", "ssh", "sftp"):
        assert kinds.get(kind), f"no kill point of kind {kind}: {sorted(kinds)}"
    assert reference.problems == []


@pytest.mark.timeout(1200)
def test_sigkill_at_every_transition_of_the_renewal_resumes_to_the_same_end(grid, reference):
    points = renewal_crash.transitions(reference.points)
    labels = [reference.points[i - 1] for i in points]
    assert any("request-certificate" in lb for lb in labels), labels
    assert len({lb.split(" in record state=")[-1] for lb in labels if "record state=" in lb}) >= 6, labels
    runs = renewal_crash.sweep(grid, reference, points, "KILL")
    print(f"\nrenewal: {len(runs)} kill points (of {len(reference.points)}), "
          f"survived {sum(r.ok for r in runs)}")
    assert all(r.fired for r in runs), [r.kill_at for r in runs if not r.fired]
    failed = [r.summary() for r in runs if not r.ok]
    assert not failed, "\n".join(failed)
