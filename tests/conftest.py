"""Shared test fixtures: an isolated onboard environment, the CLI as a subprocess, the real servers
(tests/lib/servers/fixtures.py), and the tiers: a test that uses a real server or the sandbox is marked
`servers` here, and `scripts/test --fast` leaves those (and `slow` ones) out.

Helpers live in tests/lib/ and are imported as `tests.lib...` (pyproject's pytest `pythonpath`).
"""

from __future__ import annotations

import pytest

from tests.lib import tiers
from tests.lib.clock import Clock
from tests.lib.servers.fixtures import (  # noqa: F401  (fixtures for every area)
    client_key,
    dovecot,
    dovecot_factory,
    grid_pki,
    host_keys,
    known_hosts,
    shared_dir,
    sshd,
    sshd_factory,
    submit_home,
    voms_server,
)
from tests.lib.tools import run_onboard


def pytest_collection_modifyitems(items):
    for item in items:
        if tiers.SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(tiers.MARK)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    tiers.current = item  # what guard() checks while the test (and its fixtures) run
    try:
        return (yield)
    finally:
        tiers.current = None


@pytest.fixture
def clock() -> Clock:
    """The fake clock, shared by onboard's steps and the sandbox."""
    return Clock()


@pytest.fixture
def onboard_env(tmp_path, monkeypatch):
    """Environment variables for an onboard that touches only tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "ONBOARD_STATE_DIR": str(tmp_path / "state"),
        "ONBOARD_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "NO_COLOR": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def cli(onboard_env):
    def _run(*args: str, **kw):
        return run_onboard(*args, env={**onboard_env, **kw.pop("env", {})}, **kw)

    return _run
