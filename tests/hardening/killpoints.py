"""Crash consistency: the whole journey against the sandbox, killed at every kill point, then resumed.

    with Grid(directory) as grid:                 # the sandbox (CA, VOMS-Admin, mail, submit host) + a
        ref = grid.reference()                    # real voms-server, shared by every run (one user each)
        outcome = grid.run_killed(ref, 17, "KILL")
        report = grid.sweep(ref, points, "KILL")

One *run* is one trainee going from nothing to `done`: `onboard start`, then `onboard resume` as long as
it says it waits (the harness plays the VO administrator between two runs: it approves a confirmed
request), each a new process started through killboot.py, which numbers the kill points. The reference
run is not killed; it gives the list of points and the end state. A killed run dies (SIGKILL, or SIGINT
= Ctrl-C) at one point and is resumed until done; its end state must be the reference's:

* the record says `done`, and json.loads reads the state file after every process (never torn);
* the same files, by name, type, mode and link target (time stamps and the run's number aside), in the
  trainee's home, onboard's state and data directories and the home on the submit host: nothing lost,
  nothing extra: no second certificate, no backup of our own files, no temporary file left behind;
* the credential holds together: the key opens with the passphrase and matches the certificate, which
  is the one in the obtained PKCS#12, in the package and on the submit host;
* on the server, exactly one registration request, submitted once, confirmed once, approved once.

With SIGINT the interrupted process must also exit 130 with a one-line message and no traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VO = "crash"
MAX_PROCESSES = 8  # start + resumes: a journey that is not done by then never will be
PROCESS_TIMEOUT = 120.0
EXIT_WAITING, EXIT_INTERRUPTED = 75, 130


# -- starting onboard ------------------------------------------------------------------------------------

class Launcher:
    """Runs one onboard command in a new process, through killboot.py; returns (exit code, out, err).

    fork=True: a zygote process imports onboard once and forks each command from it (a real process,
    killed for real, that skips a second of imports); fork=False: `python -c "import killboot; ..."`."""

    def __init__(self, workdir: Path, fork: bool = True):
        self.workdir = Path(workdir)
        self.fork = fork
        self.proc: subprocess.Popen | None = None
        self.socket = self.workdir / "zygote.sock"

    def start(self) -> Launcher:
        if self.fork:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ONBOARD_", "KILLPOINT_"))}
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")]))
            self.proc = subprocess.Popen(
                [sys.executable, "-c", f"import killboot; killboot.zygote({str(self.socket)!r})"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=self.workdir, text=True)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"the zygote did not start: {line!r}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the zygote leaves when its stdin closes
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()

    def run(self, argv: list[str], env: dict[str, str], cwd: Path, name: str,
            timeout: float = PROCESS_TIMEOUT) -> tuple[int, str, str]:
        out, err = cwd / f"{name}.out", cwd / f"{name}.err"
        if not self.fork:
            with open(out, "w") as fo, open(err, "w") as fe:
                proc = subprocess.run([sys.executable, "-c", "import killboot; killboot.main()", *argv],
                                      env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                      timeout=timeout)
            return proc.returncode, out.read_text(), err.read_text()
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(self.socket))
            s.sendall(json.dumps({"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(out),
                                  "stderr": str(err)}).encode() + b"\n")
            s.settimeout(timeout)
            f = s.makefile("r")
            pid = json.loads(f.readline())["pid"]
            try:
                line = f.readline()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, 9)
                line = f.readline()
            code = json.loads(line)["status"]
        return code, out.read_text(), err.read_text()


# -- the shared grid -------------------------------------------------------------------------------------

class Grid:
    """One sandbox and one real VOMS server for many runs; each run is a new trainee (user n)."""

    def __init__(self, directory: Path, *, voms: bool = True, fork: bool = True):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.want_voms = voms
        self.launcher = Launcher(self.dir, fork)
        self.sandbox: Any = None
        self.voms: Any = None
        self._n = 0
        self._lock = threading.Lock()
        self.identity = self.dir / "ssh" / "id_ed25519"

    # life cycle
    def start(self) -> Grid:
        from onboard.sandbox.demo import DemoVOMS
        from tests.lib.sandbox import start_sandbox

        # the administrator is the harness (it approves between two runs): no approval racing the journey
        # the paramiko submit host: its homes are in the harness's directory, compared run by run (the real
        # sshd's accounts, with root, are test_submit_sshd's and the demo's business)
        self.sandbox = start_sandbox(
            self.dir / "sandbox", vos=[VO], auto_approve_after=None, log_file=self.dir / "sandbox.log",
            submit_host="paramiko",
        )
        if self.want_voms:
            self.voms = DemoVOMS(self.dir / "voms", VO)  # the demo's runner: MariaDB + voms, fed on approval
            if self.voms.missing:
                raise RuntimeError("no VOMS server: " + "; ".join(self.voms.missing))
            self.voms.start_behind(SimpleNamespace(sandbox=self.sandbox))
        self._make_identity()
        self.launcher.start()
        return self

    def stop(self) -> None:
        self.launcher.stop()
        if self.voms is not None:
            self.voms.stop()
            self.voms = None
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None

    def __enter__(self) -> Grid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _make_identity(self) -> None:
        """One SSH key for every trainee (each has their own account on the submit host)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        self.identity.parent.mkdir(mode=0o700, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        fd = os.open(self.identity, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()))
        self.public_key = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " crash-trainee"

    def wait_ready(self, timeout: float = 120.0) -> None:
        """The VOMS server is up (it starts in the background while the first run goes on)."""
        if self.voms is None or self.voms.thread is None:
            return
        self.voms.thread.join(timeout)
        self.voms.check()

    # trainees
    def new_trainee(self, tag: str, variant: str = "sandbox") -> Trainee:
        from onboard.sandbox.manager import to_toml

        with self._lock:
            self._n += 1
            n = self._n
        t = Trainee(n=n, tag=tag, dir=self.dir / "runs" / f"{n:04d}-{tag}", variant=variant)
        t.dir.mkdir(parents=True, mode=0o700)
        t.home.mkdir(mode=0o700)
        (t.home / "Downloads").mkdir(mode=0o700)
        self.sandbox.authorize_ssh_key(t.ssh_user, self.public_key)
        cfg = self.sandbox.onboard_config(vo=VO, email=t.email, given_name="Crash", family_name=t.family,
                                          ssh_user=t.ssh_user, identity_file=self.identity)
        cfg["submit_host"]["x509_cert_dir"] = str(self.sandbox.trust_dir)  # as the demo: host trusts the CA
        cfg["submit_host"]["known_hosts"] = str(t.home / ".ssh" / "known_hosts")
        if variant == "portal":  # a CA portal in a browser: the harness plays the download
            cfg["ca"] = {"provider": "harica", "download_dir": str(t.home / "Downloads"),
                         "open_browser": False}
        t.config.write_text(to_toml(cfg))
        fd = os.open(t.passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, f"crash-pass-{n}-{os.urandom(6).hex()}\n".encode())
        os.close(fd)
        t.submit_home = self.sandbox.ssh_home(t.ssh_user)
        return t

    def play(self, t: Trainee) -> None:
        """What people do between two runs: the trainee downloads the certificate from the CA portal (once
        onboard watches the download directory), the VO administrator approves a confirmed request."""
        self.play_browser(t)
        self.play_admin(t)

    def play_browser(self, t: Trainee) -> None:
        if t.variant != "portal" or t.downloaded:
            return
        try:
            record = json.loads((t.state / f"{VO}.json").read_text())
        except (OSError, ValueError):
            return
        if "baseline" not in record.get("artifacts", {}).get("extra", {}).get("obtain", {}):
            return  # onboard does not watch yet: a file there now would count as an old one
        passphrase = t.passfile.read_text().splitlines()[0].encode()
        data, _ = self.sandbox.issue_user_p12(f"Crash {t.family}", t.email, passphrase)
        part = t.home / "Downloads" / "Certificate.p12.part"  # as Firefox does: a .part, renamed when done
        part.write_bytes(data)
        os.rename(part, part.with_name("Certificate.p12"))
        t.downloaded = True

    def play_admin(self, t: Trainee) -> None:
        """The VO administrator approves the trainee's confirmed request."""
        for row in self.sandbox.requests(VO):
            if row["email"] == t.email and row["status"] == "CONFIRMED":
                self.wait_ready()
                self.sandbox.approve(row["request_id"])

    def server_state(self, t: Trainee) -> dict[str, Any]:
        rows = [r for r in self.sandbox.requests(VO) if r["email"] == t.email]
        with self.sandbox.ctx.db() as db:
            subjects = {r["subject"] for r in rows}
            events = [dict(e) for e in db.execute("SELECT kind, detail FROM event WHERE vo=?", (VO,))]
        kinds: dict[str, int] = {}
        for e in events:
            if any(s in (e["detail"] or "") for s in subjects):
                kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        members = [m for m in self.sandbox.members(VO) if m["email"] == t.email]
        return {"requests": sorted(r["status"] for r in rows), "events": kinds, "members": len(members)}

    # runs
    def reference(self, variant: str = "sandbox") -> Run:
        """An uninterrupted run: the list of kill points and the end state every other run must reach."""
        t = self.new_trainee(f"reference-{variant}", variant)
        run = drive(self, t)
        if not run.done:
            raise AssertionError(f"the uninterrupted journey did not finish: {run.summary()}")
        return run

    def run_killed(self, ref: Run, at: int, signal_name: str = "KILL") -> Run:
        t = self.new_trainee(f"{ref.trainee.variant}-{signal_name.lower()}{at}", ref.trainee.variant)
        run = drive(self, t, kill_at=at, signal_name=signal_name)
        run.problems += compare(ref, run)
        return run

    def sweep(self, ref: Run, points: Iterable[int], signal_name: str = "KILL", workers: int = 2,
              progress: Callable[[Run], None] | None = None) -> list[Run]:
        points = list(points)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self.run_killed, ref, p, signal_name) for p in points]
            out = []
            for f in futures:
                run = f.result()
                if progress:
                    progress(run)
                out.append(run)
        return out


@dataclass
class Trainee:
    n: int
    tag: str
    dir: Path
    variant: str = "sandbox"  # sandbox: the sandbox CA hands out the p12; portal: a browser download
    submit_home: Path = Path()
    downloaded: bool = False

    @property
    def home(self) -> Path:
        return self.dir / "home"

    @property
    def state(self) -> Path:
        return self.dir / "state"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def config(self) -> Path:
        return self.dir / "config.toml"

    @property
    def passfile(self) -> Path:
        return self.dir / "passphrase"

    @property
    def points_log(self) -> Path:
        return self.dir / "points.log"

    @property
    def email(self) -> str:
        return f"trainee{self.n}@example.org"

    @property
    def family(self) -> str:
        return f"Trainee{self.n}"

    @property
    def ssh_user(self) -> str:
        return f"t{self.n}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ONBOARD_", "X509_", "KILLPOINT_"))
               and k not in ("SSH_AUTH_SOCK", "DISPLAY", "WAYLAND_DISPLAY")}
        env.update(HOME=str(self.home), ONBOARD_STATE_DIR=str(self.state), ONBOARD_DATA_DIR=str(self.data),
                   XDG_CONFIG_HOME=str(self.dir / "xdg"), NO_COLOR="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH", "")])),
                   KILLPOINT_LOG=str(self.points_log))
        return env


@dataclass
class Process:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    fired: str = ""  # the kill point that fired in this process, if one did


@dataclass
class Run:
    trainee: Trainee
    kill_at: int = 0
    signal_name: str = ""
    processes: list[Process] = field(default_factory=list)
    points: list[str] = field(default_factory=list)  # labels, point n is points[n-1]
    fired: str = ""
    done: bool = False
    snapshot: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.done and not self.problems

    def summary(self) -> str:
        codes = " ".join(str(p.code) for p in self.processes)
        head = f"run {self.trainee.n} ({self.signal_name or 'no'} kill at {self.kill_at}: " \
               f"{self.fired or '-'})"
        last = self.processes[-1] if self.processes else None
        tail = (last.stderr.strip().splitlines() or [""])[-2:] if last else []
        return f"{head}: exits [{codes}] in {self.seconds:.1f} s; " + "; ".join(self.problems + tail)


def _read_points(path: Path) -> tuple[list[str], str]:
    labels: list[str] = []
    fired = ""
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split("\t")
            if parts[0] == "FIRED":
                fired = f"{parts[1]} {parts[2]}"
            elif len(parts) >= 2:
                labels.append(parts[1])
    return labels, fired


def drive(grid: Grid, t: Trainee, *, kill_at: int = 0, signal_name: str = "KILL") -> Run:
    """start, then resume until done (bounded); the harness approves between two processes."""
    run = Run(trainee=t, kill_at=kill_at, signal_name=signal_name if kill_at else "")
    started = time.monotonic()
    for i in range(MAX_PROCESSES):
        record = t.state / f"{VO}.json"
        cmd = "resume" if record.exists() else "start"
        env = t.env()
        labels, fired = _read_points(t.points_log)
        env["KILLPOINT_BASE"] = str(len(labels))
        if kill_at and not fired:
            env.update(KILLPOINT_AT=str(kill_at), KILLPOINT_SIGNAL=signal_name)
        argv = ["--config", str(t.config), cmd, "--vo", VO, "--passphrase-file", str(t.passfile)]
        t0 = time.monotonic()
        code, out, err = grid.launcher.run(argv, env, t.dir, f"{i + 1}-{cmd}")
        p = Process([cmd, *argv], code, out, err, time.monotonic() - t0)
        _, now_fired = _read_points(t.points_log)
        if now_fired and not fired:
            p.fired = run.fired = now_fired
        run.processes.append(p)
        run.problems += check_process(t, p, signal_name)
        if code == 0:
            run.done = True
            break
        killed = code in (-9, EXIT_INTERRUPTED)
        if code != EXIT_WAITING and not (killed and p.fired):
            run.problems.append(f"{cmd} exited {code}: {_last_lines(err)}")
            break
        grid.play(t)
    else:
        run.problems.append(f"not done after {MAX_PROCESSES} processes (a resume that never finishes)")
    run.points, _ = _read_points(t.points_log)
    run.seconds = time.monotonic() - started
    if run.done:
        run.snapshot = snapshot(grid, t)
        run.problems += check_credential(t, run.snapshot)
    return run


def _last_lines(text: str, n: int = 2) -> str:
    return " | ".join(text.strip().splitlines()[-n:])


def check_process(t: Trainee, p: Process, signal_name: str) -> list[str]:
    """After every process: the state file reads as JSON; an interrupted one said so cleanly."""
    problems = []
    record = t.state / f"{VO}.json"
    if record.exists():
        try:
            data = json.loads(record.read_text())
            if not isinstance(data, dict) or "state" not in data:
                problems.append(f"after {p.argv[0]} (exit {p.code}) the state file holds no record")
        except ValueError as e:
            problems.append(f"after {p.argv[0]} (exit {p.code}) the state file is torn: {e}")
    if "Traceback" in p.stderr:
        problems.append(f"{p.argv[0]} printed a traceback: {_last_lines(p.stderr, 3)}")
    if p.fired and signal_name == "INT":
        if p.code != EXIT_INTERRUPTED:
            problems.append(f"Ctrl-C at {p.fired}: exit {p.code}, not 130 ({_last_lines(p.stderr)})")
        elif "interrupted" not in p.stderr.lower():
            problems.append(f"Ctrl-C at {p.fired}: no 'interrupted' message ({_last_lines(p.stderr)})")
        lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
        if len(lines) > 12:
            problems.append(f"Ctrl-C at {p.fired}: {len(lines)} lines on stderr")
    return problems


# -- end state -------------------------------------------------------------------------------------------

_STAMPS = [
    (re.compile(r"\d{8}T\d{6}Z"), "STAMP"),
    (re.compile(r"\d{8}-\d{6}(-\d+)?"), "STAMP"),
    (re.compile(r"issued_\d{1,2}_\w{3}_\d{4}"), "issued_DATE"),
]


def normalise(name: str, t: Trainee) -> str:
    for rx, sub in _STAMPS:
        name = rx.sub(sub, name)
    return name.replace(t.family, "TRAINEE").replace(f"/{t.ssh_user}/", "/USER/")


def _walk(root: Path, t: Trainee, prefix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            rel = prefix + "/" + str(path.relative_to(root))
            entry: dict[str, Any] = {"mode": oct(stat.S_IMODE(st.st_mode))}
            if stat.S_ISLNK(st.st_mode):
                entry.update(type="link", target=normalise(os.readlink(path), t))
            elif stat.S_ISDIR(st.st_mode):
                entry["type"] = "dir"
            else:
                entry.update(type="file", sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                             path=str(path))
            key = normalise(rel, t)
            n = 1
            while key in out:  # two files that differ only in their time stamps: both count
                n += 1
                key = f"{normalise(rel, t)} #{n}"
            out[key] = entry
    return out


# files whose presence is not the journey's business: the lock (a process's), the SSH client's known_hosts
IGNORED = ("state/crash.lock",)


def snapshot(grid: Grid, t: Trainee) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {}
    files.update(_walk(t.home, t, "home"))
    files.update(_walk(t.state, t, "state"))
    files.update(_walk(t.data, t, "data"))
    files.update(_walk(t.submit_home, t, "submit"))
    for k in IGNORED:
        files.pop(k, None)
    record = json.loads((t.state / f"{VO}.json").read_text())
    history = [json.loads(x) for x in (t.state / f"{VO}.history.jsonl").read_text().splitlines() if x.strip()]
    return {"files": files, "server": grid.server_state(t), "record": record, "history": history}


def compare(ref: Run, run: Run, *, own_backups: bool = False) -> list[str]:
    """What differs in `run`'s end state from the reference's (own_backups: a renewal, whose backups of
    the old credential are expected, and compared by name like every other file)."""
    if not run.done:
        return []
    a, b = ref.snapshot, run.snapshot
    problems = []
    fa, fb = a["files"], b["files"]
    for name in sorted(set(fa) - set(fb)):
        problems.append(f"missing {name}")
    for name in sorted(set(fb) - set(fa)):
        problems.append(f"extra {name}")
    for name in sorted(set(fa) & set(fb)):
        ea, eb = fa[name], fb[name]
        for k in ("type", "mode", "target"):
            if ea.get(k) != eb.get(k):
                problems.append(f"{name}: {k} {eb.get(k)} instead of {ea.get(k)}")
    for name in fb if not own_backups else ():
        if "backup." in name:
            problems.append(f"a backup of our own file: {name}")
    if a["server"] != b["server"]:
        problems.append(f"server state {b['server']} instead of {a['server']}")
    ra, rb = a["record"], b["record"]
    if rb.get("state") != "done":
        problems.append(f"record state {rb.get('state')}")
    if rb["artifacts"].get("fqans") != ra["artifacts"].get("fqans"):
        problems.append(f"fqans {rb['artifacts'].get('fqans')} instead of {ra['artifacts'].get('fqans')}")
    va = ra["artifacts"].get("extra", {}).get("verification", {}).get("voms")
    vb = rb["artifacts"].get("extra", {}).get("verification", {}).get("voms")
    if va != vb:
        problems.append(f"verification {vb} instead of {va}")
    return problems


def check_credential(t: Trainee, snap: dict[str, Any]) -> list[str]:
    """The credential holds together: nothing lost, nothing mixed up between two issuances."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    problems = []
    passphrase = t.passfile.read_text().splitlines()[0].encode()
    arts = snap["record"]["artifacts"]
    try:
        cert = x509.load_pem_x509_certificate(Path(arts["cert"]).read_bytes())
        key = serialization.load_pem_private_key(Path(arts["key"]).read_bytes(), passphrase)
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            problems.append("the installed key does not match the installed certificate")
        obtained = pkcs12.load_pkcs12(Path(arts["p12"]).read_bytes(), passphrase)
        if obtained.cert is None or obtained.cert.certificate != cert:
            problems.append("the obtained PKCS#12 holds another certificate than the installed one")
        package = Path(arts["package"]).read_bytes()
        remote = t.submit_home / ".globus"
        if (remote / "usercred.p12").read_bytes() != package:
            problems.append("usercred.p12 on the submit host is not the package")
        if x509.load_pem_x509_certificate((remote / "usercert.pem").read_bytes()) != cert:
            problems.append("usercert.pem on the submit host is another certificate")
        rkey = serialization.load_pem_private_key((remote / "userkey.pem").read_bytes(), passphrase)
        if rkey.public_key().public_numbers() != cert.public_key().public_numbers():
            problems.append("userkey.pem on the submit host does not match the certificate")
    except (OSError, ValueError, KeyError, TypeError) as e:
        problems.append(f"the credential is incomplete: {type(e).__name__}: {e}")
    return problems


# -- reports ---------------------------------------------------------------------------------------------

def summary(ref: Run, runs: list[Run], seconds: float) -> dict[str, Any]:
    survived = [r for r in runs if r.ok]
    return {
        "kill_points_total": len(ref.points),
        "exercised": len(runs),
        "survived": len(survived),
        "signals": sorted({r.signal_name for r in runs}),
        "seconds": round(seconds, 1),
        "failures": [{"point": r.kill_at, "label": r.fired, "signal": r.signal_name, "problems": r.problems}
                     for r in runs if not r.ok],
    }


def distinct_states(labels: list[str]) -> list[int]:
    """The points that leave distinct states behind when the process is killed there (SIGKILL): a point
    just after one operation (":after", ":done") is dropped when the next point is just before the next
    operation, since nothing outside the process changes in between (only the process's memory, which a
    kill loses anyway). Not so after a local file is created (os.open): its bytes are written next."""
    out = []
    for i, label in enumerate(labels, 1):
        after = label.endswith((":after", ":done")) and ":os.open(" not in label
        next_before = i < len(labels) and not labels[i].endswith((":after", ":done"))
        if not (after and next_before):
            out.append(i)
    return out


def point_kinds(labels: list[str]) -> dict[str, list[int]]:
    """Kill point numbers (1-based) grouped by kind: write_atomic, install, http, ssh, sftp, ..."""
    kinds: dict[str, list[int]] = {}
    for i, label in enumerate(labels, 1):
        kind = label.split(":", 1)[0].split("(", 1)[0]
        kinds.setdefault(kind, []).append(i)
    return kinds


@contextlib.contextmanager
def grid_in(directory: Path, *, voms: bool = True, fork: bool = True):
    g = Grid(directory, voms=voms, fork=fork)
    try:
        yield g.start()
    finally:
        g.stop()
