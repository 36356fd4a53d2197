"""Run runner.py for one target in a child process and read what it reports (tests and bench/fuzz).

The corpus the fuzzer grows is a copy of the seeds in a work directory: the repository never changes.
Known crashers found earlier live in tests/fuzz/regressions/<target>/ and are replayed by the tests.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lib.tools import child_env

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
REGRESSIONS = HERE / "regressions"


def engine() -> str:
    """atheris where it is installed (it has wheels for Linux x86_64), else hypothesis."""
    wanted = os.environ.get("ONBOARD_FUZZ_ENGINE", "")
    if wanted:
        return wanted
    return "atheris" if importlib.util.find_spec("atheris") else "hypothesis"


@dataclass
class Result:
    target: str
    engine: str
    seconds: float
    executions: int
    returncode: int
    crashes: list[Path]
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.crashes


def run(target: str, seconds: int, seeds: Path, work: Path, *, which: str | None = None) -> Result:
    which = which or engine()
    corpus = work / f"corpus-{target}"
    artifacts = work / f"artifacts-{target}"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(seeds, corpus)
    if (REGRESSIONS / target).is_dir():
        for p in (REGRESSIONS / target).iterdir():
            shutil.copy(p, corpus / f"regression-{p.name}")
    artifacts.mkdir(parents=True, exist_ok=True)
    scratch = work / f"tmp-{target}"  # the target's own files (the config target writes one)
    scratch.mkdir(exist_ok=True)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(RUNNER), target, str(seconds), str(corpus), str(artifacts), which],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=seconds * 3 + 120,
        env=child_env({"PYTHONHASHSEED": "0", "ONBOARD_FUZZ_TMP": str(scratch)}),
    )
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    m = re.search(r"Done (\d+) runs in", out) or re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    execs = int(m.group(1)) if m else 0
    crashes = sorted(
        p for p in artifacts.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-"))
    )
    return Result(target, which, elapsed, execs, proc.returncode, crashes, out)
