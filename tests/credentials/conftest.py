from __future__ import annotations

import pytest

from tests.lib.pki import PASSPHRASE, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def pwfile(tmp_path):
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


@pytest.fixture(scope="session")
def jose(pki):
    """The main input: a non-ASCII CN, chain of two intermediates and a root."""
    return pki.user("José Pérez")
