"""The sandbox as `onboard demo` uses it: started in this process with a made-up trainee, a real VOMS
server beside it when Debian's packages are there, everything stopped afterwards.

    with DemoSandbox(directory, vo) as sandbox:  # CA, registration server (approving at once), mail, SSH host
        sandbox.host_key_fingerprint             # the submit host's SHA256:... key fingerprint
        sandbox.config(work)                     # an onboard configuration (dict) for the trainee
    voms = DemoVOMS(directory, vo); voms.start_behind(sandbox); ...; voms.check(); voms.stop()
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from onboard.atomicfile import write_new
from onboard.errors import SandboxError
from onboard.sandbox import voms_server
from onboard.sandbox.manager import Sandbox
from onboard.sandbox.processes import free_port
from onboard.sandbox.settings import Settings
from onboard.sandbox.voms_server.lapses import status_hook_command

TRAINEE = {"given_name": "Dana", "family_name": "Demo", "email": "dana.demo@example.org", "ssh_user": "dana"}


class DemoSandbox:
    """The embedded grid for the demo: free ports (a demo must not collide with a running sandbox) and
    approval as soon as a request is confirmed."""

    def __init__(self, directory: Path, vo: str):
        self.directory = Path(directory)
        self.vo = vo
        self.sandbox: Sandbox | None = None
        self.host_key_fingerprint = ""

    def __enter__(self) -> DemoSandbox:
        settings = Settings(port_base=0, vos=[self.vo], auto_approve_after=0.0)
        self.sandbox = Sandbox(self.directory, settings, log_file=self.directory / "sandbox.log").start()
        self.host_key_fingerprint = self.sandbox.ssh_fingerprint
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()

    def _ssh_key(self, work: Path) -> Path:
        """An unencrypted Ed25519 key for the demo's trainee (the demo's own, thrown away with `work`)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        d = work / "ssh"
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = d / "id_ed25519"
        if not path.exists():
            key = ed25519.Ed25519PrivateKey.generate()
            pem = serialization.PrivateFormat.OpenSSH
            write_new(path, key.private_bytes(serialization.Encoding.PEM, pem, serialization.NoEncryption()))
            pub = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            (d / "id_ed25519.pub").write_bytes(pub + b" demo-trainee\n")
        self.sandbox.authorize_ssh_key(TRAINEE["ssh_user"], (d / "id_ed25519.pub").read_text().strip())
        return path

    def config(self, work: Path) -> dict[str, Any]:
        identity = self._ssh_key(Path(work))
        cfg = self.sandbox.onboard_config(
            email=TRAINEE["email"],
            given_name=TRAINEE["given_name"],
            family_name=TRAINEE["family_name"],
            ssh_user=TRAINEE["ssh_user"],
            identity_file=identity,
        )
        # the submit host runs on this machine: voms-proxy-init there trusts the sandbox CA directly
        from onboard.sandbox.submit_host import cert_dir

        sb = self.sandbox
        cfg["submit_host"]["x509_cert_dir"] = cert_dir(sb.dir, sb.settings, sb.trust_dir)
        cfg["submit_host"]["known_hosts"] = str(Path(work) / "ssh" / "known_hosts")
        return cfg


class DemoVOMS:
    """A real VOMS server for the demo VO (onboard.sandbox.voms_server): a private MariaDB plus Debian's voms
    daemon and voms-mysql-plugin, signing with the sandbox's VOMS certificate; the sandbox's on-approval hook
    (`onboard sandbox voms-add-member`) makes the approved trainee a member. It needs the Debian
    packages (not a source checkout); without them the demo says so at the last step."""

    def __init__(self, directory: Path, vo: str):
        self.directory = directory
        self.vo = vo
        self.missing = voms_server.missing()
        if shutil.which("voms-proxy-init") is None:
            self.missing.append("no voms-proxy-init")
        self.db: Any = None
        self.server: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def missing_packages(self) -> list[str]:
        """The Debian packages that would add what is missing, in the order they are used."""
        pkgs = []
        for what in self.missing:
            name = what.removeprefix("no ").split()[0]
            pkg = (
                "voms-clients" if name == "voms-proxy-init"
                else "mariadb-server" if name.startswith("mariadb")
                else "voms-server" if name == "voms"
                else name
            )
            if pkg not in pkgs:
                pkgs.append(pkg)
        return pkgs

    def start_behind(self, sandbox: DemoSandbox) -> None:
        if self.missing:
            return
        sb = sandbox.sandbox
        port = free_port()
        sb.settings.voms_port_base = port - sb.settings.vos.index(self.vo)  # the vomses line names this port
        sb.refresh_host_voms()  # the submit host's own vomses too
        ready = self.directory / "ready"
        db_dir = self.directory / "db"
        # the approval waits (in the sandbox) until the server is up: the journey itself need not wait
        sb.settings.on_approval = voms_server.hook_command(
            voms_server.MariaDB(db_dir).socket, voms_server.database_name(self.vo), self.vo, wait_for=ready
        )
        sb.settings.on_status_change = status_hook_command(  # suspensions reach the real server too
            voms_server.MariaDB(db_dir).socket, voms_server.database_name(self.vo), self.vo
        )
        cert, key = sb.ca.host_credential("voms", [sb.settings.hostname])
        voms_dn, root_dn, trust = sb.ca.voms_dn([sb.settings.hostname]), sb.ca.root_dn, sb.trust_dir

        def run() -> None:
            try:
                self.db = voms_server.MariaDB(db_dir).start()
                self.server = voms_server.VOMSServer(
                    self.vo, self.db, self.directory / "server", cert, key, voms_dn, root_dn, trust, port=port
                ).start()
            except BaseException as e:  # reported in the demo's own thread (check())
                self.error = e
            finally:
                ready.touch()  # also on failure: the hook must not wait for nothing

        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.thread = threading.Thread(target=run, name="demo-voms", daemon=True)
        self.thread.start()

    def check(self) -> None:
        """Raise if the VOMS server failed to start (called while the journey waits)."""
        if self.thread is not None and not self.thread.is_alive() and self.error is not None:
            raise SandboxError(
                f"the demo's VOMS server did not start: {type(self.error).__name__}: {self.error}",
                f"Look at the logs under {self.directory} (run with --keep).",
            )

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=120)
        if self.server is not None:
            self.server.stop()
        if self.db is not None:
            self.db.stop()
