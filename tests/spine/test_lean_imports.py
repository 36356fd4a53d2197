"""What a trainee's commands import: every module costs CPU in each of a room's hundred processes
(bench/orientation measures the session). These tests name modules a command has no use for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(code: str, env: dict[str, str]) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, **env}, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    return set(json.loads(res.stdout.strip().splitlines()[-1]))


def test_the_engine_leaves_asyncio_out(onboard_env):
    mods = imported("import onboard.engine", onboard_env)
    assert "transitions.extensions.nesting" in mods  # the machine is there
    assert "asyncio" not in mods
    assert "transitions.extensions.asyncio" not in mods


def test_transitions_asyncio_machines_still_import_afterwards(onboard_env):
    # the block is for the engine's import only: whoever wants the asyncio machines later still gets them
    mods = imported("import onboard.engine\nfrom transitions.extensions.asyncio import AsyncMachine",
                    onboard_env)
    assert "asyncio" in mods


def test_sandbox_join_needs_no_configuration_models(onboard_env):
    # join fails early here (nothing listens), after the command module and its helpers are imported
    code = ("from onboard import cli\n"
            "cli.main(['sandbox', 'join', 'https://127.0.0.1:9/', '--fingerprint', 'AA:BB', '--token', 'x',"
            " '--name', 'A B', '--email', 'a@example.org'])\n"
            "import onboard.orientation.join, onboard.commands.sandbox.orientation")
    mods = imported(code, onboard_env)
    assert "onboard.orientation.join" in mods
    assert "pydantic" not in mods
    assert "onboard.config" not in mods
