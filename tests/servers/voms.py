"""A real VOMS server on loopback: a private MariaDB plus Debian's `voms` daemon with voms-mysql-plugin,
set up as /work/shared/reference/voms-loopback.md says (and around its traps).

`add_member(dn, ca_dn)` makes a certificate a member of the VO's root group: it is what the sandbox's
on-approval hook calls (through scripts/voms-add-member) when an administrator approves a request.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from servers.sshd import descendants, free_port

SCHEMA = Path("/usr/share/voms/voms-mysql.data")
PLUGIN = Path("/usr/lib/voms/libvomsmysql.so")


def _tool(name: str) -> str:
    return shutil.which(name) or next(
        p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()
    )


def _sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def mariadb_client(socket_path: str | Path, database: str | None, sql: str) -> str:
    """Run SQL through the mariadb client over the private socket (as the OS user: unix_socket auth)."""
    argv = [
        _tool("mariadb"),
        "--no-defaults",
        f"--socket={socket_path}",
        "-u",
        "root",
        "--batch",
        "--skip-column-names",
    ]
    if database:
        argv.append(database)
    proc = subprocess.run(argv, input=sql, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb: {proc.stderr.strip()}")
    return proc.stdout


def add_member(
    dn: str, ca_dn: str, *, socket_path: str | Path, database: str, vo: str | None = None, email: str = ""
) -> None:
    """Make `dn` (issued by `ca_dn`, both in OpenSSL slash form) a member of the VO's root group.
    Idempotent: a second call for the same certificate changes nothing."""
    vo_group = f"/{vo}" if vo else None
    group_sql = (
        f"(SELECT gid FROM `groups` WHERE dn = {_sql_quote(vo_group)})"
        if vo_group
        else "(SELECT MIN(gid) FROM `groups`)"
    )
    sql = f"""
INSERT IGNORE INTO ca (ca, cadescr) VALUES ({_sql_quote(ca_dn)}, {_sql_quote(ca_dn)});
SET @cid = (SELECT cid FROM ca WHERE ca = {_sql_quote(ca_dn)});
INSERT INTO usr (dn, ca, cn, mail)
  SELECT {_sql_quote(dn)}, @cid, {_sql_quote(dn.rsplit("CN=", 1)[-1])}, {_sql_quote(email)} FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM usr WHERE dn = {_sql_quote(dn)} AND ca = @cid);
SET @uid = (SELECT userid FROM usr WHERE dn = {_sql_quote(dn)} AND ca = @cid);
SET @gid = {group_sql};
INSERT INTO m (userid, gid, rid, cid)
  SELECT @uid, @gid, NULL, NULL FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM m WHERE userid = @uid AND gid = @gid AND rid IS NULL);
"""
    mariadb_client(socket_path, database, sql)


INNODB = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"]  # small: fast to make and to copy


def template_dir() -> Path:
    """Where an empty, initialised data directory is kept between runs (mariadb-install-db takes 1-3 s,
    copying its result a few ms). Per user and MariaDB version; ONBOARD_MARIADB_TEMPLATE overrides."""
    if os.environ.get("ONBOARD_MARIADB_TEMPLATE"):
        return Path(os.environ["ONBOARD_MARIADB_TEMPLATE"])
    version = subprocess.run(
        [_tool("mariadbd"), "--no-defaults", "--version"], capture_output=True, text=True
    ).stdout.split()
    tag = next((w for w in version if w[:1].isdigit()), "unknown").replace("/", "_")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path(pwd_home()) / ".cache")
    return cache / "onboard" / f"mariadb-datadir-{tag}-uid{os.geteuid()}"


def pwd_home() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_dir  # the real home, even while a demo or test changed $HOME


def _copy_template(data: Path, user: str) -> None:
    template = template_dir()
    if not (template / "mysql").exists():
        template.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=".making-", dir=template.parent))
        subprocess.run(
            [
                _tool("mariadb-install-db"),
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
        try:
            os.rename(tmp / "data", template)  # atomic: a concurrent maker's copy wins, ours goes
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(template, data, symlinks=True)


@dataclass
class MariaDB:
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
        log = open(self.workdir / "mariadbd.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                _tool("mariadbd"),
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
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: " + (self.workdir / "mariadbd.err").read_text()[-2000:])
            if self.socket.exists():
                ping = subprocess.run(
                    [
                        _tool("mariadb-admin"),
                        "--no-defaults",
                        f"--socket={self.socket}",
                        "-u",
                        "root",
                        "ping",
                    ],
                    capture_output=True,
                )
                if ping.returncode == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("mariadbd did not answer within 60 s")

    def sql(self, statement: str, database: str | None = None) -> str:
        return mariadb_client(self.socket, database, statement)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@dataclass
class VOMSServer:
    """voms for one VO, its database in `db`, its host credential issued by the test CA."""

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
        return f"voms_{self.vo.replace('.', '_').replace('-', '_')}"

    @property
    def vomses_line(self) -> str:
        return f'"{self.vo}" "localhost" "{self.port}" "{self.host_dn}" "{self.vo}"'

    @property
    def lsc(self) -> dict[str, list[str]]:
        return {"localhost": [self.host_dn, self.ca_dn]}

    def start(self) -> VOMSServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_hex(12)
        db = self.database
        self.db.sql(f"DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db};")
        self.db.sql(SCHEMA.read_text(), db)
        self.db.sql(
            f"""
DELETE FROM version; INSERT INTO version VALUES (2);
INSERT INTO `groups` (gid, dn, parent, must) VALUES (1, '/{self.vo}', 1, 1);
CREATE USER IF NOT EXISTS 'voms_{self.vo[:8]}'@'127.0.0.1' IDENTIFIED BY '{password}';
CREATE USER IF NOT EXISTS 'voms_{self.vo[:8]}'@'localhost' IDENTIFIED BY '{password}';
ALTER USER 'voms_{self.vo[:8]}'@'127.0.0.1' IDENTIFIED BY '{password}';
ALTER USER 'voms_{self.vo[:8]}'@'localhost' IDENTIFIED BY '{password}';
GRANT SELECT, LOCK TABLES ON {db}.* TO 'voms_{self.vo[:8]}'@'127.0.0.1';
GRANT SELECT, LOCK TABLES ON {db}.* TO 'voms_{self.vo[:8]}'@'localhost';
FLUSH PRIVILEGES;
""",
            db,
        )
        passfile = self.workdir / "voms.pass"
        passfile.write_text(password + "\n")  # the daemon insists on the final newline
        os.chmod(passfile, 0o640)  # ... and on exactly 0640
        self.port = self.port or free_port()
        conf = self.workdir / "voms.conf"
        conf.write_text(
            "\n".join(
                [
                    f"--vo={self.vo}",
                    f"--dbname={db}",
                    f"--username=voms_{self.vo[:8]}",
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
                    "--debug",
                ]
            )
            + "\n"
        )
        out = open(self.workdir / "voms.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [_tool("voms"), "--conf", str(conf)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("voms exited: " + self.log()[-2000:])
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("voms did not listen within 20 s")

    def add_member(self, dn: str, ca_dn: str | None = None) -> None:
        add_member(dn, ca_dn or self.ca_dn, socket_path=self.db.socket, database=self.database, vo=self.vo)
        self.members.append(dn)

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
        # with --debug the daemon stays in front but forks a child per request: stop those too
        for pid in reversed(descendants(self.proc.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
