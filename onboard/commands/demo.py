"""`onboard demo`: the whole journey, non-interactively, against a throwaway sandbox grid.

A certificate handed out as a CA portal would, convert, register, confirm by mail, approval (automatic),
delivery to the sandbox's submit host, verification — each step printed as it goes. Everything lives in
one temporary directory (sandbox, configuration, state, a HOME of its own): nothing of the user's is read
or touched; only an empty initialised MariaDB data directory is cached in ~/.cache/onboard (for the VOMS
server, which starts in seconds less from it). Exit 0 only when the credential on the submit host verifies.

Waits are fast-forwarded (the demo's clock jumps to the next check instead of sleeping), so a journey
that takes days in real life takes seconds here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from onboard.errors import Exit, NotImplementedStep, OnboardError, UsageError


class DemoError(OnboardError):
    exit_code = Exit.SANDBOX


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dir", metavar="DIR", help="make the throwaway grid here (default: a new temporary directory)"
    )
    p.add_argument("--keep", action="store_true", help="keep the directory afterwards, to look around")
    p.add_argument("--vo", default="demo", help="name of the sandbox VO (default: demo)")
    p.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="give up after S seconds (default 120)"
    )


def run(args: argparse.Namespace) -> int:
    from onboard.ui import UI

    ui = UI(quiet=args.quiet, interactive=False)  # never a question: the demo answers everything itself
    started = time.monotonic()
    if args.dir:
        work = Path(args.dir).expanduser().resolve()
        if work.exists() and (not work.is_dir() or any(work.iterdir())):
            # everything in it is thrown away afterwards: never a directory that holds something already
            raise UsageError(f"{work} exists and is not empty.", "Give --dir a new or empty directory.")
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        work = Path(tempfile.mkdtemp(prefix="onboard-demo-"))
    ui.say(f"onboard demo: a throwaway grid in {work}")
    voms = VOMS(work / "voms", args.vo)
    try:
        with _isolated_env(work), Sandbox(work / "sandbox", args.vo, ui) as sandbox:
            voms.start_behind(sandbox)  # in the background, while the sandbox and the journey start
            try:
                record = _journey(args, ui, work, sandbox, voms)
            finally:
                voms.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    verification = record.artifacts.extra.get("verification", {})
    elapsed = time.monotonic() - started
    if record.states() != ["done"]:
        raise DemoError(
            f"the demo journey stopped in {record.states()} after {elapsed:.1f} s.",
            "Run `onboard demo --keep --debug` and look at the state and sandbox log it leaves.",
        )
    if verification.get("voms") != "ok":
        raise DemoError(
            f"the credential reached the submit host and its files check out, but voms-proxy-init could not "
            f"be run there ({verification.get('voms') or 'no verification'}).",
            "Install voms-clients (Debian: apt-get install voms-clients) and run the demo again.",
            exit_code=Exit.VERIFY,
        )
    ui.say(
        f"Demo done in {elapsed:.1f} s: {', '.join(record.artifacts.fqans)} on {verification.get('host')}."
    )
    return Exit.OK


@contextlib.contextmanager
def _isolated_env(work: Path):
    """HOME, state and data directories inside the demo's directory, restored afterwards."""
    keys = ("HOME", "ONBOARD_STATE_DIR", "ONBOARD_DATA_DIR", "ONBOARD_CONFIG", "SSH_AUTH_SOCK")
    saved = {k: os.environ.get(k) for k in keys}
    home = work / "home"
    home.mkdir(exist_ok=True, mode=0o700)
    os.environ.update(
        HOME=str(home), ONBOARD_STATE_DIR=str(work / "state"), ONBOARD_DATA_DIR=str(work / "data")
    )
    os.environ.pop("ONBOARD_CONFIG", None)
    os.environ.pop("SSH_AUTH_SOCK", None)  # the user's agent keys have no business with the sandbox
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _journey(args: argparse.Namespace, ui, work: Path, sandbox: Sandbox, voms: VOMS):
    from onboard import app, steps, workflow
    from onboard.config import Config
    from onboard.delivery.verify import VerifyError
    from onboard.state import utcnow

    passfile = work / "passphrase"
    given = os.environ.get("ONBOARD_DEMO_PASSPHRASE_FILE")
    if given:  # a known passphrase for tests and audits: read from that file, not copied, never from argv
        _first_line(Path(given))
        passfile = Path(given)
    elif not passfile.exists():
        import secrets as pysecrets

        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pysecrets.token_urlsafe(18) + "\n")
    data = sandbox.config(work)
    mail_file = os.environ.get("ONBOARD_DEMO_MAIL_CONFIG")
    if mail_file:  # read the sandbox's mail elsewhere (e.g. over IMAP): a TOML file with a [mail] table
        from onboard.config import tomllib  # tomli on Python 3.10

        try:
            data["mail"] = tomllib.loads(Path(mail_file).read_text(encoding="utf-8"))["mail"]
        except (OSError, ValueError, KeyError) as e:
            raise UsageError(
                f"ONBOARD_DEMO_MAIL_CONFIG={mail_file}: no usable [mail] table ({type(e).__name__}).",
                "Point it at a TOML file with a [mail] table as in config.example.toml.",
            ) from None
    cfg = Config.model_validate(data)
    st = app.store()
    vo = args.vo
    wf = workflow.load(workflow.name_for(cfg, vo, None), steps.names())
    record = app.new_record(vo, wf.name, wf.initial)
    st.save(record)
    clock = FastForward(utcnow)
    options: dict[str, Any] = {
        "passphrase_file": passfile,
        "trust_host_key": sandbox.host_key_fingerprint,
        "wait": False,
    }
    run = app.Run(cfg, st, ui, record, options, now=clock.now)
    engine = run.engine()
    deadline = time.monotonic() + args.timeout
    try:
        with st.lock(vo):
            while True:
                try:
                    result = engine.run()
                except VerifyError:
                    if voms.missing:
                        raise DemoError(
                            f"everything up to the last step worked; voms-proxy-init then found no VOMS "
                            f"server for VO {vo}: this demo has none ({'; '.join(voms.missing)}).",
                            "Install them (Debian: apt-get install mariadb-server voms-server "
                            "voms-mysql-plugin voms-clients) and run `onboard demo` again to see that step.",
                            exit_code=Exit.VERIFY,
                        ) from None
                    raise
                except NotImplementedStep as e:
                    raise DemoError(
                        f"the demo cannot go on: {e.message}.",
                        "That part of onboard is still being built; the demo runs up to it.",
                        exit_code=Exit.NOT_IMPLEMENTED,
                    ) from None
                if result.finished:
                    return record
                voms.check()
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"the demo journey still waits ({'; '.join(result.waiting_for or [])}) after "
                        f"{args.timeout:.0f} s.",
                        "Run again with --keep and look at the sandbox log.",
                    )
                ui.explain(
                    f"(waiting for {'; '.join(result.waiting_for or ['the sandbox'])}: the demo's clock "
                    "skips ahead to the next check)"
                )
                clock.skip_to(result.next_check_after)
                time.sleep(0.05)  # the sandbox works in its own threads (mail, auto-approval)
    finally:
        engine.ctx.close()


def _first_line(path: Path) -> str:
    try:
        line = path.read_text(encoding="utf-8").splitlines()[0].strip() if path.stat().st_size else ""
    except (OSError, UnicodeDecodeError, IndexError):
        line = ""
    if not line:
        raise UsageError(f"ONBOARD_DEMO_PASSPHRASE_FILE={path}: no passphrase on its first line.",
                         "Put the passphrase on the file's first line (12 characters or more).")
    return line


class FastForward:
    """A clock that runs at real speed but can jump ahead to a wait's next check."""

    def __init__(self, real):
        self.real = real
        self.offset = timedelta(0)

    def now(self):
        return self.real() + self.offset

    def skip_to(self, when) -> None:
        if when is not None:
            ahead = when - self.now()
            if ahead > timedelta(0):
                self.offset += ahead + timedelta(milliseconds=1)


class Sandbox:
    """The embedded grid (onboard.sandbox), started for the demo and stopped afterwards."""

    def __init__(self, directory: Path, vo: str, ui):
        self.directory = directory
        self.vo = vo
        self.ui = ui
        self.handle: Any = None
        self.host_key_fingerprint = ""

    def __enter__(self) -> Sandbox:
        try:
            from onboard.sandbox import demo_support  # type: ignore[attr-defined]
        except ImportError:
            raise DemoError(
                "the demo needs the sandbox (onboard.sandbox), which is not complete yet: it cannot "
                "start its servers from Python.",
                "Until it is, the delivery and verification steps can be tried against any SSH host "
                "with `onboard start`.",
                exit_code=Exit.NOT_IMPLEMENTED,
            ) from None
        self.handle = demo_support.start(self.directory, self.vo)
        self.host_key_fingerprint = self.handle.host_key_fingerprint
        return self

    def config(self, work: Path) -> dict[str, Any]:
        return self.handle.config(work)

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.stop()


class VOMS:
    """A real VOMS server for the demo VO (onboard.sandbox.voms): a private MariaDB plus Debian's voms daemon
    and voms-mysql-plugin, signing with the sandbox's VOMS certificate; the sandbox's on-approval hook
    (`python -m onboard.sandbox.voms add-member`) makes the approved trainee a member. It needs the Debian
    packages (not a source checkout); without them the demo says so at the last step."""

    def __init__(self, directory: Path, vo: str):
        from onboard.sandbox import voms

        self.directory = directory
        self.vo = vo
        self.missing = voms.missing()
        if shutil.which("voms-proxy-init") is None:
            self.missing.append("no voms-proxy-init")
        self.db: Any = None
        self.server: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def start_behind(self, sandbox: Sandbox) -> None:
        if self.missing:
            return
        from onboard.sandbox import voms
        from onboard.store import check_vo_name

        sb = sandbox.handle.sandbox
        port = voms.free_port()
        sb.settings.voms_port_base = port - sb.settings.vos.index(self.vo)  # the vomses line names this port
        ready = self.directory / "ready"
        db_dir = self.directory / "db"
        # the approval waits (in the sandbox) until the server is up: the journey itself need not wait
        sb.settings.on_approval = voms.hook_command(
            voms.MariaDB(db_dir).socket, voms.database_name(check_vo_name(self.vo)), self.vo, wait_for=ready
        )
        cert, key = sb.ca.host_credential("voms", [sb.settings.hostname])
        voms_dn, root_dn, trust = sb.ca.voms_dn([sb.settings.hostname]), sb.ca.root_dn, sb.trust_dir

        def run() -> None:
            try:
                self.db = voms.MariaDB(db_dir).start()
                self.server = voms.VOMSServer(
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
            raise DemoError(
                f"the demo's VOMS server did not start: {type(self.error).__name__}: {self.error}",
                f"Look at the logs under {self.directory} (run with --keep).",
                exit_code=Exit.SANDBOX,
            )

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=120)
        if self.server is not None:
            self.server.stop()
        if self.db is not None:
            self.db.stop()
