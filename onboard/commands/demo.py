"""`onboard demo`: the whole journey, non-interactively, against a throwaway sandbox grid.

A certificate handed out as a CA portal would, convert, register, confirm by mail, approval (automatic),
delivery to the sandbox's submit host, verification — each step printed as it goes. Everything lives in
one temporary directory (sandbox, configuration, state, a HOME of its own): nothing of the user's is read
or touched; only an empty initialised MariaDB data directory is cached in ~/.cache/onboard (for the VOMS
server, which starts in seconds less from it). Exit 0 only when the credential on the submit host verifies,
or, on a machine without voms-clients (said before the first step, with the command that adds it), when
every other step did.

Waits are fast-forwarded (the demo's clock jumps to the next check instead of sleeping), so a journey
that takes days in real life takes seconds here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.errors import Exit, OnboardError, UsageError

if TYPE_CHECKING:
    from onboard.sandbox.demo import DemoSandbox, DemoVOMS


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
    from onboard.sandbox.demo import DemoSandbox, DemoVOMS
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
    voms = DemoVOMS(work / "voms", args.vo)
    cannot_show = _what_it_cannot_show(voms)
    if cannot_show:
        ui.warn(cannot_show)
    try:
        with _isolated_env(work), DemoSandbox(work / "sandbox", args.vo) as sandbox:
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
    if verification.get("voms") != "ok" and cannot_show and "voms-clients" in voms.missing_packages():
        # every step it could run has run, and what it could not was said at the start
        ui.say(
            f"Demo done in {elapsed:.1f} s, up to the credential checked on {verification.get('host')}; "
            f"without the VO attributes ({_install_command(voms)} shows them)."
        )
        return Exit.OK
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


def _install_command(voms: DemoVOMS) -> str:
    return "sudo apt-get install --no-install-recommends " + " ".join(voms.missing_packages())


def _what_it_cannot_show(voms: DemoVOMS) -> str:
    """Said before the first step: what this machine lacks, what the demo therefore will not show, and the
    command that adds it ('' when nothing is missing)."""
    if not voms.missing:
        return ""
    if "voms-clients" in voms.missing_packages():
        shown = (
            "runs every step up to the delivery and checks the files on the submit host, but cannot run "
            "voms-proxy-init there, so it will not show the VO's attributes (the FQAN)"
        )
    else:
        shown = (
            "runs every step, but has no VOMS server for voms-proxy-init to ask, so it will not show the "
            "VO's attributes (the FQAN)"
        )
    return (
        f"This machine lacks {', '.join(voms.missing_packages())} ({'; '.join(voms.missing)}): the demo "
        f"{shown}. To add it: {_install_command(voms)} (or scripts/install-debian --demo as root)."
    )


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


def _journey(args: argparse.Namespace, ui, work: Path, sandbox: DemoSandbox, voms: DemoVOMS):
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
