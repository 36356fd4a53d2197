"""Fixtures of the delivery tests: the grid PKI (tests/lib/servers/fixtures.py) under its short name and
Jane Doe's PKCS#12 package. The real servers (sshd, voms-server) are the shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.lib.pki import Cert

PASSPHRASE = "delivery test passphrase 42"


@pytest.fixture(scope="session")
def pki(grid_pki):
    return grid_pki


@pytest.fixture
def package(tmp_path, pki) -> Path:
    user: Cert = pki["user"]
    p = tmp_path / "package-Jane_Doe.p12"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(user.p12(PASSPHRASE))
    return p
