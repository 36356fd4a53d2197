"""The second year against real servers: the sandbox (CA, VOMS-Admin imitation, mail), OpenSSH sshd as
the submit host, MariaDB + voms-server fed by the sandbox's on-approval hook, voms-clients there."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from onboard.errors import Exit
from tests.lib.servers.sshd import TEST_USER

PASSPHRASE = "renewal test passphrase 42"
VO = "renewvo"


@dataclass
class World:
    sb: Any
    server: Any
    certs: Path  # the submit host's copy of the trust directory
    config: Path
    passfile: Path
    sshd: Any
    cli: Any
    tmp: Path

    def copy_trust(self) -> None:
        """The submit host's user reads a world-readable copy of the trust anchors (again after a CA
        switch: a site installs the new CA's files, as the IGTF bundle brought HARICA's)."""
        shutil.rmtree(self.certs, ignore_errors=True)
        shutil.copytree(self.sb.trust_dir, self.certs, symlinks=True)
        for p in [self.certs, *self.certs.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)

    def run(self, *args: str, timeout: float = 300):
        return self.cli("--config", str(self.config), *args, "--vo", VO, "--passphrase-file",
                        str(self.passfile), timeout=timeout)

    def status(self) -> dict:
        return json.loads(self.cli("status", "--vo", VO, "--json").stdout)

    def first_year(self) -> dict:
        r = self.run("start", "--trust-host-key", self.sshd.fingerprint)
        assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
        (req,) = [q for q in self.sb.requests(VO) if q["status"] == "CONFIRMED"]
        self.sb.approve(req["request_id"])
        r = self.run("resume", "--wait", "--timeout", "60")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        status = self.status()
        assert status["state"] == "done"
        return status

    def members(self) -> set[int]:
        return {m["id"] for m in self.sb.members(VO)}


@pytest.fixture
def world(tmp_path, onboard_env, cli, shared_dir, voms_server, sshd, client_key):
    from onboard.sandbox.manager import to_toml
    from tests.lib.sandbox import start_sandbox
    from tests.lib.servers.voms import VOMSServer

    sb = start_sandbox(tmp_path / "sandbox", vos=[VO], auto_approve_after=None)
    server = None
    try:
        cert, key = sb.ca.host_credential("voms", [sb.settings.hostname])
        server = VOMSServer(VO, voms_server.db, tmp_path / "voms-renew", cert, key,
                            sb.ca.voms_dn([sb.settings.hostname]), sb.ca.personal_dn, sb.trust_dir).start()
        sb.settings.on_approval = server.hook()
        certs = shared_dir / f"renew-certs-{os.getpid()}-{id(sb)}"
        cfg = sb.onboard_config(email="jane.doe@example.org", given_name="Jürgen", family_name="Müller",
                                identity_file=client_key)
        cfg["submit_host"] = {"host": "127.0.0.1", "user": TEST_USER, "port": sshd.port,
                              "identity_file": str(client_key), "known_hosts": str(tmp_path / "kh"),
                              "x509_cert_dir": str(certs)}
        cfg["vos"][VO]["vomses"] = [server.vomses_line]
        cfg["registration"] = {"poll_min_seconds": 1, "poll_max_seconds": 2}
        config = tmp_path / "config.toml"
        config.write_text(to_toml(cfg))
        pw = tmp_path / "passphrase"
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (PASSPHRASE + "\n").encode())
        os.close(fd)
        w = World(sb, server, certs, config, pw, sshd, cli, tmp_path)
        w.copy_trust()
        yield w
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            sb.stop()
