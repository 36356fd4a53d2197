"""Fixtures for the registration tests: the sandbox's registration servers on loopback (in this process)
and a personal certificate from the sandbox CA with its key encrypted on disk. The clock is the shared
one (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.lib.regkit import Sandbox, UserCred, issue_user, start_registration_servers


@pytest.fixture
def sandbox(tmp_path, clock) -> Sandbox:
    sb = start_registration_servers(tmp_path / "sandbox", clock=clock)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def user(sandbox, tmp_path) -> UserCred:
    return issue_user(sandbox, tmp_path / "cred")
