"""Debian's voms daemon for one VO, on a private MariaDB (mariadb.py), signing with a host credential."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from onboard.sandbox import processes
from onboard.sandbox.processes import descendants, free_port
from onboard.sandbox.voms_server.debian import PLUGIN, SCHEMA, required
from onboard.sandbox.voms_server.lapses import ADMIN_SCHEMA, set_status, status_hook_command
from onboard.sandbox.voms_server.mariadb import MariaDB, sql_quote
from onboard.sandbox.voms_server.members import add_member, database_name, hook_command


@dataclass
class VOMSServer:
    """Debian's voms daemon for one VO, its database in `db`, its host credential issued by `ca_dn`."""

    vo: str
    db: MariaDB
    workdir: Path
    host_cert: Path
    host_key: Path
    host_dn: str
    ca_dn: str
    cert_dir: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    members: list[str] = field(default_factory=list)

    @property
    def database(self) -> str:
        return database_name(self.vo)

    @property
    def account(self) -> str:
        return f"voms_{self.vo[:8]}"

    @property
    def vomses_line(self) -> str:
        return f'"{self.vo}" "localhost" "{self.port}" "{self.host_dn}" "{self.vo}"'

    @property
    def lsc(self) -> dict[str, list[str]]:
        return {"localhost": [self.host_dn, self.ca_dn]}

    def start(self) -> VOMSServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_hex(12)
        db, account = self.database, self.account
        self.db.sql(f"DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db};")
        self.db.sql(SCHEMA.read_text(), db)
        grants = "".join(
            f"CREATE USER IF NOT EXISTS '{account}'@'{h}' IDENTIFIED BY '{password}';\n"
            f"ALTER USER '{account}'@'{h}' IDENTIFIED BY '{password}';\n"
            f"GRANT SELECT, LOCK TABLES ON {db}.* TO '{account}'@'{h}';\n"
            for h in ("127.0.0.1", "localhost")
        )
        self.db.sql(
            "DELETE FROM version; INSERT INTO version VALUES (2);\n"
            f"INSERT INTO `groups` (gid, dn, parent, must) VALUES (1, {sql_quote('/' + self.vo)}, 1, 1);\n"
            f"{grants}FLUSH PRIVILEGES;\n",
            db,
        )
        self.db.sql(ADMIN_SCHEMA, db)  # suspension as VOMS-Admin marks it, honoured by the plugin (lapses.py)
        passfile = self.workdir / "voms.pass"
        with contextlib.suppress(FileNotFoundError):
            passfile.unlink()
        # the daemon insists on exactly 0640 and on the final newline; created so from the first byte
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        os.chmod(passfile, 0o640)  # the umask may have taken the group's read bit
        self.port = self.port or free_port()
        conf = self.workdir / "voms.conf"
        conf.write_text(
            "\n".join(
                [
                    f"--vo={self.vo}",
                    f"--dbname={db}",
                    f"--username={account}",
                    f"--passfile={passfile}",
                    "--contactstring=127.0.0.1",  # 'localhost' would make the client ignore the port
                    f"--mysql-port={self.db.port}",
                    f"--sqlloc={PLUGIN}",
                    f"--port={self.port}",
                    f"--uri=localhost:{self.port}",
                    f"--logfile={self.workdir / 'voms.log'}",
                    "--loglevel=5",
                    "--logtype=7",
                    "--timeout=86400",
                    "--newformat",
                    f"--x509_user_cert={self.host_cert}",
                    f"--x509_user_key={self.host_key}",
                    f"--x509_cert_dir={self.cert_dir}",
                    "--debug",  # stays in front (a pid we can stop), but forks a child per request
                ]
            )
            + "\n"
        )
        self.proc = processes.spawn([required("voms"), "--conf", str(conf)], self.workdir / "voms.out")
        if processes.wait_ready(self.proc, lambda: processes.accepts(self.port), 20, "voms", self.log):
            return self
        self.stop()
        raise RuntimeError("voms did not listen within 20 s")

    def add_member(self, dn: str, ca_dn: str | None = None) -> None:
        add_member(dn, ca_dn or self.ca_dn, socket_path=self.db.socket, database=self.database, vo=self.vo)
        self.members.append(dn)

    def set_status(self, dn: str, ca_dn: str | None = None, **status) -> None:
        """Suspend (suspended=True, reason=...) or restore a member's certificate (lapses.set_status)."""
        set_status(dn, ca_dn or self.ca_dn, socket_path=self.db.socket, database=self.database, **status)

    def status_hook(self) -> str:
        """The sandbox's status-change command that suspends and restores members here."""
        return status_hook_command(self.db.socket, self.database, self.vo)

    def hook(self, wait_for: Path | None = None) -> str:
        """The sandbox's on-approval command that makes approved requesters members here."""
        return hook_command(self.db.socket, self.database, self.vo, wait_for=wait_for)

    def log(self) -> str:
        parts = []
        for name in ("voms.log", "voms.out"):
            p = self.workdir / name
            if p.exists():
                parts.append(p.read_text(errors="replace"))
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc is None:
            return
        for pid in reversed(descendants(self.proc.pid)):  # the per-request children of --debug
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        processes.stop(self.proc, timeout=10)
        self.proc = None
