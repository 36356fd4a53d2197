"""Hostile and broken input, one table: each case builds its input, runs the real CLI as a user would, and
checks the exit code, the message (one `error:` line and one `hint:` line, no traceback, no internal error)
and that every file (HOME with ~/.globus, state, data, the submit host's home) is as it was: same paths,
bytes and modes. A journey's record keeps its position; only what the run reports (last error, attempts,
waits, refused links) and appended history may change.

Case builders live in cases.py; the corpus data (configurations, mails) in corpus/.
"""

from __future__ import annotations

import pytest

from tests.lib.tools import run_onboard

from .cases import CASES, Case, Kit
from .world import World

pytestmark = [pytest.mark.slow, pytest.mark.servers]  # some cases start the sandbox or sshd


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, kit: Kit, onboard_env, tmp_path):
    world = World(tmp_path, dict(onboard_env))
    world.home.mkdir(exist_ok=True)
    argv, stdin = case.build(kit, world)
    before = world.take()
    r = run_onboard(*argv, env={**world.env, **world.extra_env}, input=stdin, timeout=90, cwd=tmp_path)
    after = world.take()
    out = r.stdout + r.stderr
    print(f"[{case.id}] exit {r.returncode}: " + " | ".join(r.stderr.strip().splitlines()[-2:]))  # with -s
    assert "Traceback" not in out and "internal error" not in out, out
    assert r.returncode == case.code, (r.returncode, out)
    if case.code not in (0, 75):
        lines = [x for x in r.stderr.strip().splitlines() if x.startswith(("error:", "hint:"))]
        assert [x.split(":")[0] for x in lines] == ["error", "hint"], r.stderr
    for fragment in case.message if isinstance(case.message, tuple) else (case.message,):
        assert fragment in out, (fragment, out)
    assert kit.secret not in out
    if case.check is not None:
        case.check(kit, world, r)
    else:
        world.assert_unchanged(before, after)
