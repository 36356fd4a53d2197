"""Fuzzing the parsers of hostile input, bounded: every target for ONBOARD_FUZZ_SECONDS (default 15) at once.

atheris (coverage-guided) where it is installed, else hypothesis (ONBOARD_FUZZ_ENGINE overrides). A target
passes when nothing but a documented OnboardError (one-line message and a hint) ever escapes. `bench/fuzz`
runs the same targets longer and prints executions per target.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from onboard.errors import OnboardError

from . import driver, seeds
from .targets import RAW, TARGETS, expected

SECONDS = int(os.environ.get("ONBOARD_FUZZ_SECONDS", "15"))


@pytest.fixture(scope="module")
def seed_dirs(tmp_path_factory) -> dict[str, Path]:
    from tests.lib.tools import require_tool

    require_tool("openssl")
    return seeds.write(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def fuzzed(seed_dirs, tmp_path_factory) -> dict[str, driver.Result]:
    """All targets fuzzed at the same time (one process each), for SECONDS of wall time."""
    work = tmp_path_factory.mktemp("fuzz")
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        futures = {t: pool.submit(driver.run, t, SECONDS, seed_dirs[t], work) for t in TARGETS}
        return {t: f.result() for t, f in futures.items()}


def _outcome(fn, data: bytes) -> str:
    try:
        fn(data)
    except OnboardError as e:
        expected(e)
        return f"error {int(e.exit_code)}"
    return "ok"


def test_seeds_and_known_crashers_replay(seed_dirs):
    """Every seed and every input that once crashed onboard (regressions/) now meets the contract."""
    outcomes: dict[str, list[str]] = {}
    for target, fn in RAW.items():
        files = sorted(seed_dirs[target].iterdir())
        files += (
            sorted((driver.REGRESSIONS / target).iterdir()) if (driver.REGRESSIONS / target).is_dir() else []
        )
        outcomes[target] = [_outcome(fn, p.read_bytes()) for p in files if p.is_file()]
    # the seeds reach the inner code, not only the first error: real openssl files load and pass check()
    assert outcomes["pkcs12"].count("ok") >= 4, outcomes["pkcs12"]  # modern, legacy, 3DES, EC
    assert "error 10" in outcomes["pkcs12"] and "error 13" in outcomes["pkcs12"]  # other passphrase, no key
    assert outcomes["pem"].count("ok") >= 4, outcomes["pem"]
    assert outcomes["page"].count("ok") >= 6 and "error 21" in outcomes["page"]
    assert outcomes["config"].count("ok") >= 2 and "error 3" in outcomes["config"]
    assert outcomes["tarball"].count("ok") >= 4 and "error 43" in outcomes["tarball"]  # 4 packings, a loop
    assert outcomes["known_hosts"].count("ok") == len(outcomes["known_hosts"])  # lines skipped, never raised
    assert len(list(driver.REGRESSIONS.glob("*/*"))) >= 3


def test_known_crashers_are_what_they_were():
    """The regression inputs still reach the code that once crashed (a guard against stale files)."""
    from onboard.registration import html

    page = (driver.REGRESSIONS / "page").iterdir().__next__().read_bytes()
    assert b"<![" in page
    html.parse(page.decode("utf-8", "replace"))  # raised AssertionError before the fix


@pytest.mark.slow  # a fuzzing campaign: SECONDS of wall time, one process per target
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz(fuzzed, target):
    res = fuzzed[target]
    tail = "\n".join(line for line in res.output.splitlines() if not line.startswith(("INFO:", "#")))[-3000:]
    assert res.ok, f"{target} ({res.engine}) broke its contract; input in {res.crashes}:\n{tail}"
    assert res.executions > 0, f"{target} did not run:\n{tail}"


@pytest.mark.slow  # a short fuzzing campaign of its own
def test_harness_reports_a_crash(seed_dirs, tmp_path):
    """A planted bug is found and reported with its input: a green run above means something."""
    res = driver.run("broken", 5, seed_dirs["config"], tmp_path)
    assert not res.ok
    assert res.crashes and "planted bug" in res.output
