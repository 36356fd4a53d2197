"""A private MariaDB for the VOMS server: its own data directory, socket and loopback port, never
/etc/mysql; an empty initialised data directory is cached between runs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from onboard.sandbox import processes
from onboard.sandbox.processes import free_port
from onboard.sandbox.voms_server.debian import required

INNODB = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"]  # small: fast to make and to copy


def mariadb_client(
    socket_path: str | Path | None,
    database: str | None,
    sql: str,
    *,
    user: str = "root",
    password: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> str:
    """Run SQL through the mariadb client: over the private socket as the OS user (unix_socket auth), or
    over TCP with a password. The password goes to the client in its environment, never in argv."""
    argv = [required("mariadb"), "--no-defaults"]
    if socket_path:
        argv.append(f"--socket={socket_path}")
    else:
        argv += [f"--host={host or '127.0.0.1'}", f"--port={port or 3306}", "--protocol=TCP"]
    argv += ["-u", user, "--batch", "--skip-column-names"]
    if database:
        argv.append(database)
    env = {k: v for k, v in os.environ.items() if k != "MYSQL_PWD"}
    if password:
        env["MYSQL_PWD"] = password
    proc = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=60, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb: {proc.stderr.strip()}")
    return proc.stdout


def sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def template_dir() -> Path:
    """Where an empty, initialised data directory is kept between runs (mariadb-install-db takes 1-3 s,
    copying its result a few ms). Per user and MariaDB version; ONBOARD_MARIADB_TEMPLATE overrides."""
    if os.environ.get("ONBOARD_MARIADB_TEMPLATE"):
        return Path(os.environ["ONBOARD_MARIADB_TEMPLATE"])
    version = subprocess.run(
        [required("mariadbd"), "--no-defaults", "--version"], capture_output=True, text=True
    ).stdout.split()
    tag = next((w for w in version if w[:1].isdigit()), "unknown").replace("/", "_")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path(_real_home()) / ".cache")
    return cache / "onboard" / f"mariadb-datadir-{tag}-uid{os.geteuid()}"


def _real_home() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_dir  # the real home, even while a demo or test changed $HOME


def _copy_template(data: Path, user: str) -> None:
    template = template_dir()
    if not (template / "mysql").exists():
        template.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=".making-", dir=template.parent))
        subprocess.run(
            [
                required("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={tmp / 'data'}",
                f"--user={user}",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
                *INNODB,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with contextlib.suppress(OSError):
            os.rename(tmp / "data", template)  # atomic: a concurrent maker's copy wins, ours goes
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(template, data, symlinks=True)


@dataclass
class MariaDB:
    """A private mariadbd: data, socket and logs in `workdir`, TCP on 127.0.0.1:`port` (free if 0)."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.workdir / "mysqld.sock"

    def start(self) -> MariaDB:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data = self.workdir / "data"
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        if not (data / "mysql").exists():
            _copy_template(data, user)
        self.port = self.port or free_port()
        self.proc = processes.spawn(
            [
                required("mariadbd"),
                "--no-defaults",
                f"--user={user}",
                f"--datadir={data}",
                f"--socket={self.socket}",
                f"--pid-file={self.workdir / 'mariadbd.pid'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                *INNODB,
                "--skip-log-bin",
                "--innodb-fast-shutdown=2",
                "--innodb-flush-log-at-trx-commit=0",
                f"--log-error={self.workdir / 'mariadbd.err'}",
            ],
            self.workdir / "mariadbd.log",
        )
        if processes.wait_ready(
            self.proc, self._answers, 60, "mariadbd", lambda: (self.workdir / "mariadbd.err").read_text()
        ):
            return self
        self.stop()
        raise RuntimeError("mariadbd did not answer within 60 s")

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        ping = subprocess.run(
            [required("mariadb-admin"), "--no-defaults", f"--socket={self.socket}", "-u", "root", "ping"],
            capture_output=True,
        )
        return ping.returncode == 0

    def sql(self, statement: str, database: str | None = None) -> str:
        return mariadb_client(self.socket, database, statement)

    def stop(self) -> None:
        if self.proc is None:
            return
        processes.stop(self.proc, timeout=20)
        self.proc = None
