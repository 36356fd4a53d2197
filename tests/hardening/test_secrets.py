"""The demo journey with a known passphrase and a known IMAP password (mail read over IMAP from a real
Dovecot): neither secret appears in any file written during the run (binary-safe; also as UTF-16 and inside
base64), in any process's command line while it runs (`/proc/*/cmdline` sampled continuously: onboard, the
sandbox, openssl, and the submit host's side of SSH, which runs on this machine), or in onboard's output.
Meanwhile file modes are sampled: key material is never readable by group or others, not for a moment."""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.lib.servers.dovecot import start_dovecot
from tests.lib.tools import require_tool

pytestmark = [pytest.mark.slow, pytest.mark.servers]  # onboard demo and Dovecot

PASSPHRASE = "Kx7-demo-passphrase-q9Zt"  # no space: its URL-encoded form is itself
IMAP_PASSWORD = "imap-pw-Wm3rT8vLq2"
TRAINEE = "dana.demo@example.org"  # onboard.sandbox.demo.TRAINEE
# key material by name, temporary files included (.onboard-*.key-*.tmp, .onboard-usercred.p12.tmp); not .pub
KEY_NAME = re.compile(r"key|\.p12|\.pfx|usercred|^id_(rsa|ecdsa|ed25519)", re.I)


def forms(secret: str) -> list[bytes]:
    """The secret as bytes in UTF-8 and UTF-16, and the part of its base64 that shows at any alignment."""
    raw = secret.encode()
    out = [raw, secret.encode("utf-16-le"), secret.encode("utf-16-be")]
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw)
        skip = (k * 4 + 2) // 3 + (1 if k else 0)
        out.append(enc[skip:-4])
    return out


class Sampler(threading.Thread):
    """Samples every process's command line and the modes of key files, as fast as the machine allows."""

    def __init__(self, roots: list[Path], needles: list[bytes]):
        super().__init__(daemon=True)
        self.roots, self.needles = roots, needles
        self.stop = threading.Event()
        self.sweeps = self.mode_sweeps = self.cmdlines = self.key_samples = 0
        self.leaks: list[str] = []
        self.exposed: list[str] = []
        self.key_files: set[str] = set()
        self.me = os.getpid()

    def run(self) -> None:  # command lines here, modes in a thread of their own (a sweep of /proc is slower)
        modes = threading.Thread(target=self._mode_loop, daemon=True)
        modes.start()
        while not self.stop.is_set():
            self._procs()
            self.sweeps += 1
            time.sleep(0.001)
        modes.join(10)

    def _mode_loop(self) -> None:
        while not self.stop.is_set():
            self._modes()
            self.mode_sweeps += 1
            time.sleep(0.001)

    def _procs(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == self.me:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            self.cmdlines += 1
            if any(n in cmd for n in self.needles):
                self.leaks.append(cmd.replace(b"\0", b" ").decode(errors="replace")[:300])

    def _modes(self) -> None:
        for root in self.roots:
            for dirpath, dirs, files in os.walk(root):
                if "db" in dirs and os.path.basename(dirpath) == "voms":
                    dirs.remove("db")  # MariaDB's data files: thousands, none of them key material
                for name in files:
                    if not KEY_NAME.search(name) or name.endswith(".pub"):
                        continue
                    p = os.path.join(dirpath, name)
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    self.key_samples += 1
                    self.key_files.add(p)
                    if st.st_mode & 0o077:
                        self.exposed.append(f"{p} {oct(stat.S_IMODE(st.st_mode))}")


class Relay(threading.Thread):
    """The mail transport between the sandbox (which writes a Maildir) and Dovecot's store for the trainee."""

    def __init__(self, src: Path, dst: Path, owner: tuple[int, int]):
        super().__init__(daemon=True)
        self.src, self.dst, self.owner = src, dst, owner
        self.stop = threading.Event()
        self.moved: set[str] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            for sub in ("new", "cur"):
                d = self.src / sub
                if not d.is_dir():
                    continue
                for f in d.iterdir():
                    key = f.name.split(":")[0]
                    if key in self.moved:
                        continue
                    try:
                        data = f.read_bytes()
                    except OSError:
                        continue
                    tmp = self.dst / "tmp" / key
                    tmp.write_bytes(data)
                    os.chown(tmp, *self.owner)
                    os.replace(tmp, self.dst / "new" / key)
                    self.moved.add(key)
            time.sleep(0.01)


def test_demo_leaks_no_secret_and_never_exposes_a_key(tmp_path, onboard_env):
    for tool in ("dovecot", "sshd", "openssl", "mariadbd", "voms", "voms-proxy-init"):
        require_tool(tool)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    sources = []
    for name, value in (("passphrase", PASSPHRASE), ("imap-password", IMAP_PASSWORD)):
        p = secrets_dir / name
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (value + "\n").encode())
        os.close(fd)
        sources.append(p)
    demo_dir = tmp_path / "demo"
    imap_root = tmp_path / "imap-root"
    needles = forms(PASSPHRASE) + forms(IMAP_PASSWORD)
    with start_dovecot(tmp_path / "dovecot", imap_root, user=TRAINEE, password=IMAP_PASSWORD) as imap:
        mail_cfg = tmp_path / "mail.toml"
        mail_cfg.write_text(
            f'[mail]\nkind = "imap"\nhost = "127.0.0.1"\nport = {imap.port}\nusername = "{TRAINEE}"\n'
            f'password_file = "{sources[1]}"\nca_file = "{imap.ca_file}"\n'
        )
        box = imap_root / TRAINEE
        relay = Relay(demo_dir / "sandbox" / "mail" / TRAINEE, box, (box.stat().st_uid, box.stat().st_gid))
        sampler = Sampler([demo_dir, Path(onboard_env["HOME"])], needles)
        env = {**os.environ, **onboard_env, "ONBOARD_DEMO_PASSPHRASE_FILE": str(sources[0]),
               "ONBOARD_DEMO_MAIL_CONFIG": str(mail_cfg)}
        env.pop("ONBOARD_DEBUG", None)
        relay.start()
        sampler.start()
        started = time.monotonic()
        try:
            r = subprocess.run([sys.executable, "-m", "onboard", "demo", "--dir", str(demo_dir), "--keep",
                                "--timeout", "150"], env=env, capture_output=True, timeout=200,
                               stdin=subprocess.DEVNULL)
        finally:
            sampler.stop.set()
            relay.stop.set()
            sampler.join(10)
            relay.join(10)
        elapsed = time.monotonic() - started
        imap_log = imap.log.read_text(errors="replace") if imap.log.exists() else ""
    out = r.stdout + r.stderr
    assert r.returncode == 0, out.decode(errors="replace")[-3000:]
    assert relay.moved, "no mail went through IMAP"
    assert f"user=<{TRAINEE}>" in imap_log, "onboard never logged in to Dovecot"
    # onboard's own output
    assert not [n for n in needles if n in out], "a secret in onboard's output"
    # every process's command line, all through the run
    print(f"\nsecrets: {elapsed:.1f} s; {sampler.sweeps} sweeps of /proc ({sampler.cmdlines} command lines), "
          f"{sampler.mode_sweeps} sweeps of the directories ({sampler.key_samples} mode samples of "
          f"{len(sampler.key_files)} key files)")
    assert not sampler.leaks, sampler.leaks[:5]
    assert sampler.sweeps >= 100 and sampler.cmdlines >= 10_000, (sampler.sweeps, sampler.cmdlines)
    # key material never readable by group or others
    assert not sampler.exposed, sorted(set(sampler.exposed))[:10]
    assert sampler.mode_sweeps >= 500, sampler.mode_sweeps  # a sweep every few ms over the run
    assert len(sampler.key_files) >= 5 and sampler.key_samples >= 2000, (
        sampler.key_files,
        sampler.key_samples,
    )
    # every file written during the run, binary-safe (the secrets' own files and Dovecot's passwd excepted)
    assert not (demo_dir / "passphrase").exists()  # the known passphrase was read where it was, not copied
    skip = set(sources)
    scanned, found = 0, []
    for root in (tmp_path,):
        for dirpath, _dirs, files in os.walk(root):
            if Path(dirpath).is_relative_to(tmp_path / "dovecot"):
                continue  # the IMAP server's own user database: the other end of the login
            for name in files:
                p = Path(dirpath) / name
                if p in skip or p.is_symlink() or not p.is_file():
                    continue
                try:
                    data = p.read_bytes()
                except OSError:
                    continue
                scanned += 1
                found += [f"{p}: {n!r}" for n in needles if n in data]
    print(f"secrets: {scanned} files scanned")
    assert scanned >= 50
    # what onboard writes was among them, and the scan can see a secret where one is (its own source file)
    wrote = [demo_dir / "state" / "demo.json", demo_dir / "state" / "demo.history.jsonl",
             demo_dir / "sandbox" / "sandbox.log"]
    assert all(p.is_file() for p in wrote), [p for p in wrote if not p.is_file()]
    assert all(any(n in p.read_bytes() for n in needles) for p in sources)
    assert not found, found[:10]
    shutil.rmtree(demo_dir, ignore_errors=True)
