"""Fixtures for the registration tests: the sandbox's registration servers on loopback (in this process),
a personal certificate from the sandbox CA with its key encrypted on disk, and an injected clock."""

from __future__ import annotations

import pytest
from servers.dovecot import dovecot, dovecot_factory  # noqa: F401  (fixtures)

from .regkit import Clock, Sandbox, UserCred, issue_user, start_sandbox


@pytest.fixture
def sandbox(tmp_path, clock) -> Sandbox:
    sb = start_sandbox(tmp_path / "sandbox", clock=clock)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def user(sandbox, tmp_path) -> UserCred:
    return issue_user(sandbox, tmp_path / "cred")


@pytest.fixture
def clock() -> Clock:
    return Clock()
