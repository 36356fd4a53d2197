"""Fixtures of the hardening suite: session-wide test PKIs and SSH keys, and per-test cleanups."""

from __future__ import annotations

import contextlib

import pytest

from tests.lib.pki import CA, make_pki
from tests.lib.servers.sshd import make_client_key, make_host_keys
from tests.lib.tools import require_tool

from .cases import Kit


@pytest.fixture(scope="session")
def hardening_material(tmp_path_factory):
    require_tool("openssl")
    base = tmp_path_factory.mktemp("hardening")
    ca = CA()
    shared: dict = {}
    yield {
        "shared": shared,
        "pki": make_pki(base / "pki"),
        "ca": ca,
        "other_ca": CA(),
        "trust": ca.trust_dir(base / "trust"),
        "client_key": make_client_key(base / "client" / "id_ed25519") if _mkdir(base / "client") else None,
        "host_keys": make_host_keys(base / "hostkeys"),
        "tmp": base,
    }
    if "sandbox" in shared:
        shared["sandbox"].stop()


def _mkdir(p):
    p.mkdir(parents=True, exist_ok=True)
    return True


@pytest.fixture
def kit(hardening_material):
    with contextlib.ExitStack() as stack:
        yield Kit(stack=stack, **hardening_material)
