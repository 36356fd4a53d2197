"""Real Unix accounts for the seats, when the sandbox runs as root (the submit host is then OpenSSH's sshd).

Each account is named `obx-<the trainee's user name>` (the prefix marks it as a sandbox's), has its own
home /home/obx-<name> (0700, owned by the account), /bin/sh by way of public.py's seat shell (the proxy in
the home, not the shared /tmp), no password (`*`: key-only, and not "locked" for an sshd without PAM), and
belongs to the sandbox's group `obx-s<hash of the sandbox directory>`, the only group its sshd lets in
(AllowGroups). An account or home that exists before the sandbox asks for it is never taken over.

Every account and group the sandbox makes is written to a ledger (DIR/submit/accounts.json) *before* it
is made, with its uid/gid once it exists; `remove_all()` (at `sandbox down`, and at the next start after a
crash) removes exactly the ledger's entries whose uid still matches — never an account it did not make,
even one with the same prefix. The ledger is shared by the sandbox's process and the instructor's commands
(a file lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from onboard.atomicfile import write_atomic
from onboard.errors import SandboxError
from onboard.sandbox.submit_host.homes import Homes, add_key
from onboard.sandbox.submit_host.keys import parse_key_lines
from onboard.sandbox.submit_host.public import seat_shell

PREFIX = "obx-"
MAX_NAME = 32  # useradd's limit for a user name
HOME_BASE = Path("/home")
COMMENT = "onboard sandbox seat"
USERADD_NAME_IN_USE = 9


def account_name(user: str) -> str:
    """The Unix account of the trainee's user name: obx-<user>, or for a long name its start and a hash.
    A hashed name is MAX_NAME long and a plain one shorter, so no user name can be spelled as another's
    hashed account (it would take it first, and the other's owner be refused)."""
    if len(PREFIX) + len(user) < MAX_NAME:
        return PREFIX + user
    digest = hashlib.sha256(user.encode()).hexdigest()[:8]
    return f"{PREFIX}{user[: MAX_NAME - len(PREFIX) - 9]}-{digest}"


def group_name(sandbox_dir: Path) -> str:
    return f"{PREFIX}s{hashlib.sha256(str(sandbox_dir).encode()).hexdigest()[:10]}"


class Accounts:
    def __init__(self, root: Path, sandbox_dir: Path):
        self.root = Path(root)  # DIR/submit
        self.group = group_name(Path(sandbox_dir))
        self.shell = seat_shell(Path(sandbox_dir))
        self.ledger_path = self.root / "accounts.json"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- the ledger ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _ledger(self) -> Iterator[dict]:
        with open(self.root / "accounts.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self.ledger_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            data.setdefault("accounts", {})
            data.setdefault("groups", {})
            before = json.dumps(data, sort_keys=True)
            try:
                yield data
            finally:  # also on an error: what was made must stay recorded
                if json.dumps(data, sort_keys=True) != before:
                    write_atomic(self.ledger_path, json.dumps(data, indent=2).encode(), mode=0o600)

    def _save_now(self, data: dict) -> None:
        write_atomic(self.ledger_path, json.dumps(data, indent=2).encode(), mode=0o600)

    def recorded(self) -> dict[str, int | None]:
        with self._ledger() as data:
            return dict(data["accounts"])

    # -- making ----------------------------------------------------------------------------------------------
    def ensure_group(self) -> int:
        with self._ledger() as data:
            return self._group(data)

    def _group(self, data: dict) -> int:
        name = self.group
        try:
            gid = grp.getgrnam(name).gr_gid
        except KeyError:
            gid = None
        if gid is not None:
            if data["groups"].get(name) == gid:
                return gid
            raise SandboxError(f"the group {name} exists and was not made by this sandbox.",
                               "Remove it (groupdel) if it is a leftover, or use another --dir.")
        data["groups"][name] = None
        self._save_now(data)  # recorded before it exists
        _run(["groupadd", name], f"could not create the group {name}")
        data["groups"][name] = grp.getgrnam(name).gr_gid
        return data["groups"][name]

    def ensure(self, user: str) -> pwd.struct_passwd:
        """The seat's account for `user`, made if the sandbox has not made it yet. ValueError when an
        account or home of that name exists that the sandbox did not make."""
        name = account_name(user)
        with self._ledger() as data:
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                pw = None
            if pw is not None:
                if data["accounts"].get(name) == pw.pw_uid:
                    return pw
                raise ValueError(f"the account {name} exists and is not one the sandbox made")
            home = HOME_BASE / name
            if os.path.lexists(home):
                raise ValueError(f"{home} exists and is not one the sandbox made")
            self._group(data)
            data["accounts"][name] = None
            self._save_now(data)
            r = subprocess.run(
                ["useradd", "--create-home", "--home-dir", str(home), "--shell", str(self.shell),
                 "--groups", self.group, "--comment", COMMENT, "--password", "*", "--key", "UMASK=077",
                 name], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                if r.returncode == USERADD_NAME_IN_USE or _exists(name):
                    del data["accounts"][name]  # made by someone else meanwhile: not ours
                    raise ValueError(f"the account {name} exists and is not one the sandbox made")
                del data["accounts"][name]
                raise SandboxError(f"could not create the account {name}: {r.stderr.strip()[:300]}",
                                   "Check useradd works here (as root).")
            pw = pwd.getpwnam(name)
            data["accounts"][name] = pw.pw_uid
        os.chmod(pw.pw_dir, 0o700)  # whatever HOME_MODE says: no trainee reads another's home
        return pw

    def ours(self, name: str) -> pwd.struct_passwd | None:
        """The account `name` if this sandbox made it (as its ledger says, with the same uid)."""
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            return None
        with self._ledger() as data:
            return pw if data["accounts"].get(name) == pw.pw_uid else None

    # -- removing --------------------------------------------------------------------------------------------
    def remove_all(self) -> list[str]:
        """Remove the accounts (with their homes and processes) and the group in the ledger; returns the
        names removed. Accounts the ledger does not name, or names now held by another uid, are left."""
        removed = []
        with self._ledger() as data:
            for name, uid in list(data["accounts"].items()):
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    del data["accounts"][name]  # gone already
                    continue
                # uid None: the sandbox stopped between useradd and the ledger's update; its comment and
                # the sandbox's group then say it is the sandbox's
                mine = pw.pw_uid == uid or (
                    uid is None and pw.pw_gecos == COMMENT and _member(name, self.group))
                if not mine:
                    del data["accounts"][name]
                    continue
                _kill_processes_of(pw.pw_uid)
                r = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, timeout=60)
                if r.returncode not in (0, 12) and _exists(name):  # 12: home not removed (already gone)
                    raise SandboxError(f"could not remove the account {name}: {r.stderr.strip()[:300]}",
                                       "Run `onboard sandbox down` again, or userdel it by hand.")
                removed.append(name)
                del data["accounts"][name]
            for name, gid in list(data["groups"].items()):
                try:
                    now = grp.getgrnam(name).gr_gid
                except KeyError:
                    del data["groups"][name]
                    continue
                if gid is None or now == gid:
                    subprocess.run(["groupdel", name], capture_output=True, timeout=60)
                del data["groups"][name]
        return removed


def _run(argv: list[str], what: str) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SandboxError(f"{what}: {r.stderr.strip()[:300]}",
                           "The sandbox must run as root to make accounts.")


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _member(user: str, group: str) -> bool:
    try:
        return user in grp.getgrnam(group).gr_mem
    except KeyError:
        return False


def _kill_processes_of(uid: int) -> None:
    """What a seat's account still runs (userdel refuses an account in use): killed, by pid."""
    for _ in range(3):
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}").stat().st_uid == uid:
                    pids.append(int(entry))
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


class AccountHomes(Homes):
    """Homes (homes.py) that are the seats' real accounts: `authorize` makes the account if needed and
    writes the key into its ~/.ssh/authorized_keys, owned by the account (sshd's StrictModes)."""

    def __init__(self, root: Path, sandbox_dir: Path):
        super().__init__(root)
        self.accounts = Accounts(root, sandbox_dir)

    def account(self, user: str) -> str:
        super().home(user)  # the same names as without root
        return account_name(user)

    def home(self, user: str) -> Path:
        return HOME_BASE / self.account(user)

    def exists(self, user: str) -> bool:
        return _exists(self.account(user)) or os.path.lexists(self.home(user))

    def authorize(self, user: str, public_key_line: str) -> Path:
        line = public_key_line.strip()
        if not parse_key_lines(line) or "\n" in line:
            raise ValueError("not an OpenSSH public key line")
        pw = self.accounts.ensure(user)
        return add_key(pw.pw_name, Path(pw.pw_dir), line, (pw.pw_uid, pw.pw_gid))
