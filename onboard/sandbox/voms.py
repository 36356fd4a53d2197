"""A real VOMS attribute authority for the sandbox's VOs, when Debian's packages are installed.

The sandbox's registration server stands in for VOMS-Admin (no Debian package); the attribute authority
that `voms-proxy-init` talks to need not be a stand-in: with `mariadb-server`, `voms-server` and
`voms-mysql-plugin` installed, this module runs a private MariaDB (its own data directory, socket and
loopback port, never /etc/mysql) and Debian's `voms` daemon on top of it, set up as
/work/shared/reference/voms-loopback.md says (and around its traps). `onboard demo`, bench/orientation
and the test suite use it.

    db = MariaDB(workdir / "db").start()
    server = VOMSServer(vo, db, workdir / "server", host_cert, host_key, host_dn, ca_dn, trust_dir).start()
    server.add_member(dn, ca_dn)                  # or, from the sandbox's on-approval hook:
    settings.on_approval = hook_command(db.socket, server.database, vo)
    server.stop(); db.stop()

The hook is `python -m onboard.sandbox.voms add-member ...` (the same as `onboard sandbox
voms-add-member ...`): it makes the approved certificate a member of the VO's root group. Its values come
from its arguments or from the environment the sandbox gives a hook; a database password, if one is
needed, only from a file or the environment (never argv).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = Path("/usr/share/voms/voms-mysql.data")
PLUGIN = Path("/usr/lib/voms/libvomsmysql.so")
TOOLS = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "voms")
PACKAGES = "mariadb-server voms-server voms-mysql-plugin"
INNODB = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"]  # small: fast to make and to copy


def tool(name: str) -> str | None:
    """A tool's path: on PATH, or in /usr/sbin (mariadbd) even when PATH lacks it."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )


def _tool(name: str) -> str:
    path = tool(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install {PACKAGES})")
    return path


def missing() -> list[str]:
    """What this machine lacks to run a VOMS server (empty: it can)."""
    out = [f"no {t}" for t in TOOLS if tool(t) is None]
    if not PLUGIN.exists():
        out.append("no voms-mysql-plugin")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(root: int) -> list[int]:
    """Pids of every process below `root`, parents before children (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


def database_name(vo: str) -> str:
    return f"voms_{vo.replace('.', '_').replace('-', '_')}"


def _sql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


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
    argv = [_tool("mariadb"), "--no-defaults"]
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


def add_member(
    dn: str,
    ca_dn: str,
    *,
    socket_path: str | Path | None,
    database: str,
    vo: str | None = None,
    email: str = "",
    **client: object,
) -> None:
    """Make `dn` (issued by `ca_dn`, both in OpenSSL slash form) a member of the VO's root group.
    Idempotent: a second call for the same certificate changes nothing. `client`: user, password, host,
    port for mariadb_client (TCP instead of the socket)."""
    vo_group = f"/{vo}" if vo else None
    group_sql = (
        f"(SELECT gid FROM `groups` WHERE dn = {_sql_quote(vo_group)})"
        if vo_group
        else "(SELECT MIN(gid) FROM `groups`)"
    )
    # usr.dn is no unique key: a named lock keeps two hooks at once (two approvals) from both inserting
    sql = f"""
DO GET_LOCK('onboard_add_member', 60);
INSERT IGNORE INTO ca (ca, cadescr) VALUES ({_sql_quote(ca_dn)}, {_sql_quote(ca_dn)});
SET @cid = (SELECT cid FROM ca WHERE ca = {_sql_quote(ca_dn)});
INSERT INTO usr (dn, ca, cn, mail)
  SELECT {_sql_quote(dn)}, @cid, {_sql_quote(dn.rsplit("CN=", 1)[-1])}, {_sql_quote(email)} FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM usr WHERE dn = {_sql_quote(dn)} AND ca = @cid);
SET @uid = (SELECT MIN(userid) FROM usr WHERE dn = {_sql_quote(dn)} AND ca = @cid);
SET @gid = {group_sql};
INSERT INTO m (userid, gid, rid, cid)
  SELECT @uid, @gid, NULL, NULL FROM DUAL
  WHERE @uid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM m WHERE userid = @uid AND gid = @gid AND rid IS NULL);
SELECT COUNT(*) FROM m WHERE userid = @uid AND gid = @gid;
DO RELEASE_LOCK('onboard_add_member');
"""
    out = mariadb_client(socket_path, database, sql, **client)  # type: ignore[arg-type]
    if out.strip().splitlines()[-1:] != ["1"]:
        raise RuntimeError(
            f"{dn} is not a member of {vo_group or 'the first group'} afterwards (is it issued by {ca_dn}, "
            "or already registered under another CA?)"
        )


# -- MariaDB ------------------------------------------------------------------------------------------------


def template_dir() -> Path:
    """Where an empty, initialised data directory is kept between runs (mariadb-install-db takes 1-3 s,
    copying its result a few ms). Per user and MariaDB version; ONBOARD_MARIADB_TEMPLATE overrides."""
    if os.environ.get("ONBOARD_MARIADB_TEMPLATE"):
        return Path(os.environ["ONBOARD_MARIADB_TEMPLATE"])
    version = subprocess.run(
        [_tool("mariadbd"), "--no-defaults", "--version"], capture_output=True, text=True
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
                    [_tool("mariadb-admin"), "--no-defaults", f"--socket={self.socket}", "-u", "root",
                     "ping"],
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


# -- the voms daemon ----------------------------------------------------------------------------------------


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
            f"INSERT INTO `groups` (gid, dn, parent, must) VALUES (1, {_sql_quote('/' + self.vo)}, 1, 1);\n"
            f"{grants}FLUSH PRIVILEGES;\n",
            db,
        )
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
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def hook_command(socket_path: str | Path, database: str, vo: str, *, wait_for: Path | None = None) -> str:
    """An on-approval command line (settings.on_approval) running add-member with this interpreter: it
    works from a wheel as from a checkout, and needs no `onboard` on PATH. No secret in it."""
    argv = [sys.executable, "-m", "onboard.sandbox.voms", "add-member", "--socket", str(socket_path),
            "--database", database, "--vo", vo]
    if wait_for is not None:
        argv += ["--wait-for", str(wait_for)]
    return shlex.join(argv)


# -- the on-approval hook's command line ---------------------------------------------------------------------


def add_member_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ
    p.add_argument(
        "--socket", default=env.get("VOMS_DB_SOCKET"), help="the MariaDB socket (env VOMS_DB_SOCKET)"
    )
    p.add_argument("--host", default=env.get("VOMS_DB_HOST"), help="MariaDB over TCP instead (VOMS_DB_HOST)")
    p.add_argument(
        "--port", type=int, default=int(env.get("VOMS_DB_PORT") or 3306), help="its TCP port (VOMS_DB_PORT)"
    )
    p.add_argument("--user", default=env.get("VOMS_DB_USER", "root"), help="database account (VOMS_DB_USER)")
    p.add_argument(
        "--password-file",
        default=env.get("VOMS_DB_PASSWORD_FILE"),
        metavar="FILE",
        help="file whose first line is the account's password (VOMS_DB_PASSWORD_FILE, or the password "
        "itself in VOMS_DB_PASSWORD); none: unix_socket authentication as this OS user",
    )
    p.add_argument("--database", default=env.get("VOMS_DB_NAME"), help="the VO's database (VOMS_DB_NAME)")
    p.add_argument(
        "--dn",
        default=env.get("ONBOARD_DN") or env.get("ONBOARD_SANDBOX_DN"),
        help="the member's certificate subject, slash form (ONBOARD_DN, as the sandbox's hook gets it)",
    )
    p.add_argument(
        "--ca",
        default=env.get("ONBOARD_CA_DN") or env.get("ONBOARD_SANDBOX_CA"),
        help="its issuer (ONBOARD_CA_DN)",
    )
    p.add_argument(
        "--vo",
        default=env.get("ONBOARD_VO") or env.get("ONBOARD_SANDBOX_VO"),
        help="the VO (its root group /VO; ONBOARD_VO); default: the first group",
    )
    p.add_argument("--email", default=env.get("ONBOARD_EMAIL") or env.get("ONBOARD_SANDBOX_EMAIL", ""))
    p.add_argument(
        "--wait-for",
        metavar="FILE",
        help="first wait (up to 120 s) until FILE exists: a server still starting writes it once it answers",
    )


def run_add_member(a: argparse.Namespace, out=sys.stdout, err=sys.stderr) -> int:
    """Exit 0 when the member is there, 2 for missing values, 1 otherwise; one line each way."""
    name = "voms-add-member"
    if not a.database and a.vo:
        a.database = database_name(a.vo)
    lacking = [n for n in ("database", "dn", "ca") if not getattr(a, n)]
    if not a.socket and not a.host:
        lacking.insert(0, "socket")
    if lacking:
        print(f"{name}: missing {', '.join('--' + m for m in lacking)}", file=err)
        return 2
    password = os.environ.get("VOMS_DB_PASSWORD") or None
    if a.password_file:
        try:
            password = Path(a.password_file).expanduser().read_text().splitlines()[0]
        except (OSError, IndexError) as e:
            print(f"{name}: cannot read the password file {a.password_file}: {e}", file=err)
            return 1
    if a.wait_for:
        deadline = time.monotonic() + 120
        while not Path(a.wait_for).exists():
            if time.monotonic() > deadline:
                print(f"{name}: {a.wait_for} did not appear within 120 s", file=err)
                return 1
            time.sleep(0.05)
    client: dict[str, object] = {"user": a.user, "password": password}
    if not a.socket:
        client.update(host=a.host, port=a.port)
    try:
        add_member(a.dn, a.ca, socket_path=a.socket, database=a.database, vo=a.vo, email=a.email, **client)
    except Exception as e:  # one line for the hook's log (the password is never in it: not in argv)
        print(f"{name}: {e}", file=err)
        return 1
    print(f"{name}: {a.dn} is a member of {a.vo or a.database}", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m onboard.sandbox.voms", description="The sandbox's VOMS server helpers."
    )
    sub = p.add_subparsers(dest="action", required=True)
    add_member_arguments(
        sub.add_parser(
            "add-member", help="make a certificate a member of a VO in a voms-server's MariaDB (idempotent)"
        )
    )
    return run_add_member(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
