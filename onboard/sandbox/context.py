"""What every part of the sandbox shares: its directory, settings, database, mailer, CA and clock.

Layout of DIR (0700):
    sandbox.json        settings (ports, VOs, options)           registration.sqlite  requests, users
    sandbox.pid         pid of the background sandbox            sandbox.log          its log
    ca/                 the CA (see ca.py); ca/certificates is the trust directory
    mail/<address>/     a Maildir per recipient                  submit/              the SSH submit host
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from onboard.sandbox.settings import Settings

CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS req (
    request_id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, like VOMS-Admin's sequence
    vo TEXT NOT NULL, status TEXT NOT NULL, confirm_id TEXT NOT NULL,
    creation_date REAL NOT NULL, expiration_date REAL NOT NULL, confirmation_date REAL, completion_date REAL,
    subject TEXT NOT NULL, issuer TEXT NOT NULL, email TEXT NOT NULL,
    name TEXT, surname TEXT, institution TEXT, address TEXT, phone TEXT, user_message TEXT,
    signed_aup_version TEXT, approver TEXT, explanation TEXT, hook_error TEXT, hook_retry_after REAL,
    manager_email TEXT, requested_groups TEXT, approving TEXT, approving_until REAL
);
CREATE INDEX IF NOT EXISTS req_requester ON req (vo, subject, issuer);
CREATE TABLE IF NOT EXISTS usr (
    id INTEGER PRIMARY KEY AUTOINCREMENT, vo TEXT NOT NULL, name TEXT, surname TEXT, institution TEXT,
    address TEXT, phone TEXT, email TEXT NOT NULL, creation_time REAL NOT NULL, end_time REAL,
    suspended INTEGER NOT NULL DEFAULT 0, suspension_reason TEXT
);
CREATE TABLE IF NOT EXISTS certificate (
    id INTEGER PRIMARY KEY AUTOINCREMENT, usr_id INTEGER NOT NULL REFERENCES usr(id),
    subject TEXT NOT NULL, issuer TEXT NOT NULL, creation_time REAL NOT NULL,
    suspended INTEGER NOT NULL DEFAULT 0, suspension_reason TEXT
);
CREATE TABLE IF NOT EXISTS fqan (usr_id INTEGER NOT NULL REFERENCES usr(id), fqan TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aup_acceptance (
    usr_id INTEGER NOT NULL REFERENCES usr(id), aup_version TEXT NOT NULL, acceptance_date REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, vo TEXT, request_id INTEGER,
    kind TEXT NOT NULL, detail TEXT
);
"""


class SandboxContext:
    def __init__(self, dir: Path, settings: Settings, *, log_file: Path | None = None, clock=None):
        self.dir = Path(dir)
        self.settings = settings
        self.db_path = self.dir / "registration.sqlite"
        self.mail_dir = self.dir / "mail"
        self._clock = clock or time.time
        self._log_file = log_file
        self._log_lock = threading.Lock()
        self._ca = None
        self._mail = None
        self.wake: threading.Event | None = None  # set: the sandbox's ticker looks at auto-approval now
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.db_path, timeout=30
        )  # executescript commits by itself: no transaction here
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(CORE_SCHEMA)
            have = {r[1] for r in conn.execute("PRAGMA table_info(req)")}
            for column, kind in (  # databases of an earlier sandbox
                ("manager_email", "TEXT"),
                ("requested_groups", "TEXT"),
                ("approving", "TEXT"),
                ("approving_until", "REAL"),
            ):
                if column not in have:
                    conn.execute(f"ALTER TABLE req ADD COLUMN {column} {kind}")
        finally:
            conn.close()

    # -- clock and log ---------------------------------------------------------------------------------
    def now(self) -> float:
        return self._clock()

    def set_clock(self, clock) -> None:
        """Tests: make time pass (e.g. to expire requests) without sleeping."""
        self._clock = clock

    def log(self, message: str) -> None:
        line = f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {message}\n"
        with self._log_lock:
            if self._log_file:
                with open(self._log_file, "a", encoding="utf-8") as f:
                    f.write(line)
            elif self._log_file is None and "pytest" not in sys.modules:
                sys.stderr.write(line)

    # -- shared parts ------------------------------------------------------------------------------------
    def create_tables(self, schema: str) -> None:
        """An extension's `CREATE TABLE IF NOT EXISTS ...;` statements, one at a time: executescript()
        would commit the surrounding transaction by itself."""
        with self.db() as db:
            for stmt in schema.split(";"):
                if stmt.strip():
                    db.execute(stmt)

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction: committed when the block ends, rolled back on an exception.

        Several processes use the database (the server and the instructor's commands): WAL + busy timeout.
        """
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: never corrupt, fsync at checkpoints
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @property
    def ca(self):
        if self._ca is None:
            from onboard.sandbox.ca import SandboxCA

            self._ca = SandboxCA(self.dir / "ca", hostname=self.settings.hostname)
        return self._ca

    @property
    def mail(self):
        if self._mail is None:
            from onboard.sandbox.mail import Mailer

            self._mail = Mailer(self.mail_dir, self.settings.sender, self.settings.smtp, log=self.log)
        return self._mail

    def event(
        self,
        db: sqlite3.Connection,
        kind: str,
        vo: str | None = None,
        request_id: int | None = None,
        detail: str = "",
    ) -> None:
        db.execute(
            "INSERT INTO event (time, vo, request_id, kind, detail) VALUES (?,?,?,?,?)",
            (self.now(), vo, request_id, kind, detail),
        )
