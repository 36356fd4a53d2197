"""The obtain step: get the personal certificate from the CA, as a PKCS#12 in onboard's own directory.

Three ways in, first match wins: a journey that already has its .p12 (idempotent); a file at hand
(`--p12 FILE` or config ca.p12), copied into a 0600 file; the CA's portal, opened in the browser (or its
address printed when there is no display), its steps shown one at a time, and the download directory
watched until the new .p12/.pfx has fully arrived, which is then moved at once into a 0600 file. While
nothing has arrived the step waits (exit 75 without --wait; `onboard resume` looks again).
"""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path

from onboard.errors import UsageError
from onboard.steps.context import StepContext


def _home(path: Path | str) -> str:
    """A path as a person would type it (~ for the home directory)."""
    text = str(path)
    home = str(Path.home())
    return "~" + text[len(home):] if text == home or text.startswith(home + os.sep) else text


def open_portal(ctx: StepContext, url: str) -> bool:
    """Open the portal in the user's browser when there is a display; never a text browser on a terminal."""
    from onboard.adapters import desktop

    return desktop.open_page(url, allowed=ctx.config.ca.open_browser)


def _private_dir() -> Path:
    from onboard import paths

    return paths.data_dir() / "obtained"


def _copy_once(src: Path) -> Path:
    """The private copy of `src`: the one a run killed before recording it made already, or a new one; a
    copy cut short by a crash is removed. Never two copies of one download."""
    from onboard.obtain.watcher import take_private

    data = src.read_bytes()
    found = None
    directory = _private_dir()
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > len(data):
                continue
            have = path.read_bytes()
            if have == data:
                found = found or path
            elif data.startswith(have):
                path.unlink()
        except OSError:
            continue
    return found or take_private(src, directory, move=False)


def _finish_move(ctx: StepContext) -> None:
    """A run stopped between recording the copy and removing the original download: remove it now."""
    state = ctx.record.artifacts.extra.get("obtain", {})
    src = Path(state["source"]) if state.get("move") and state.get("source") else None
    try:
        if src and src.is_file() and src.read_bytes() == Path(ctx.record.artifacts.p12).read_bytes():
            src.unlink()
            ctx.ui.say(f"Removed {src} (moved to {_home(ctx.record.artifacts.p12)} before).")
    except OSError:
        pass


def _take(ctx: StepContext, src: Path, *, move: bool) -> None:
    # copy, record, and only then remove the original: killed at any point, the certificate is either
    # still where the browser put it (and found again) or recorded in the journey (never only in limbo)
    dest = _copy_once(src)
    ctx.record.artifacts.p12 = dest
    ctx.record.artifacts.extra.setdefault("obtain", {}).update(source=str(src), move=move)
    ctx.checkpoint()
    if move:
        try:
            src.unlink()
        except OSError:
            pass
        if src.exists():
            ctx.ui.warn(f"copied {src} to {dest} but could not remove the original; delete it yourself.")
        else:
            ctx.ui.say(f"Got {src.name}; moved it to {_home(dest)} (readable only by you).")
    else:
        ctx.ui.say(f"Using {src}; copied it to {_home(dest)} (readable only by you).")
        try:
            if src.stat().st_mode & 0o077:
                ctx.ui.warn(f"{src} can be read by other users of this computer; `chmod 600 {src}` or delete "
                            "it once the journey is done.")
        except OSError:
            pass


def _given(ctx: StepContext, given: Path) -> None:
    path = Path(given).expanduser()
    if not path.is_file():
        raise UsageError(f"{path}: no such file.", "Give the PKCS#12 (.p12/.pfx) file the CA gave you.")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(b"\x30"):
        raise UsageError(f"{path}: not a PKCS#12 file (it does not start like one).",
                         "Give the .p12/.pfx file the CA portal let you download (not a PEM or a web page).")
    _take(ctx, path, move=False)


def _walk_steps(ctx: StepContext, steps: list[str], watcher) -> Path | None:
    """Show the steps one at a time; on a terminal, Enter shows the next while the watcher keeps looking."""
    ui = ctx.ui
    n = len(steps)
    interactive = ui.interactive and hasattr(select, "select")
    for i, text in enumerate(steps, 1):
        ui.say(f"  Step {i}/{n}: {text}")
        if not interactive:
            continue
        if i < n:
            print("    (Enter: next step — onboard is watching for the download meanwhile)", file=ui.err,
                  flush=True)
        else:
            print("    (onboard goes on by itself once the file is there; Enter: keep waiting)", file=ui.err,
                  flush=True)
        while True:
            found = watcher.poll()
            if found is not None:
                return found
            try:
                ready, _, _ = select.select([sys.stdin], [], [], 1.0)
            except (OSError, ValueError):
                interactive = False
                break
            if ready:
                if not sys.stdin.readline():
                    interactive = False
                break
        if i == n:
            break
    return None


def run(ctx: StepContext) -> None:
    from onboard import obtain
    from onboard.obtain.watcher import DownloadWatcher

    arts, cfg, ui = ctx.record.artifacts, ctx.config, ctx.ui
    if arts.p12 and Path(arts.p12).is_file():
        _finish_move(ctx)
        ui.say(f"The certificate is already here: {_home(arts.p12)}.")
        return
    given = ctx.options.get("p12") or cfg.ca.p12
    if given:
        _given(ctx, Path(given))
        return

    provider = obtain.get(cfg.ca.provider)
    provider.check(ctx)
    if provider.obtain(ctx):
        return

    state = arts.extra.setdefault("obtain", {})
    if state.get("provider") == provider.name and "baseline" in state:
        portal = state.get("portal", "")
        watcher = DownloadWatcher(Path(state["download_dir"]), state["baseline"])
        first = False
    else:
        portal = provider.portal(cfg, ctx)
        watcher = DownloadWatcher(Path(cfg.ca.download_dir).expanduser())
        state.clear()
        state.update(provider=provider.name, portal=portal, download_dir=str(watcher.directory),
                     baseline=watcher.baseline, since=ctx.now().isoformat(timespec="seconds"))
        ctx.checkpoint()  # the baseline must survive: files there now are not the new certificate
        first = True

    found = watcher.poll()
    if found is None and first:
        ui.explain("A personal certificate is your identity on the grid: the certificate authority (CA) "
                   "checks who you are, and every grid service then recognises you by it.")
        for sentence in provider.intro(cfg):
            ui.explain(sentence)
        opened = open_portal(ctx, portal)
        if portal:
            ui.say(f"{'Opened' if opened else 'Open'} {portal} "
                   f"{'in your browser' if opened else 'in a browser'}.")
        older = watcher.preexisting()
        if older:
            ui.say(f"{_home(older[0])} was already there before; if it is the certificate you want, run "
                   f"`onboard resume --p12 {_home(older[0])}`.")
        found = _walk_steps(ctx, provider.steps(cfg, portal, _home(watcher.directory)), watcher)
    if found is None:
        found = watcher.poll()
    if found is not None:
        _take(ctx, found, move=True)
        return
    wrong = watcher.not_pkcs12()
    if wrong and state.get("warned_not_pkcs12") != str(wrong[0]):
        state["warned_not_pkcs12"] = str(wrong[0])  # say it once per file, not at every check
        ui.warn(f"{_home(wrong[0])} is not a certificate file (it looks like a web page or an error saved "
                "under that name); download it again from the portal.")
    where = portal or "the CA"
    raise ctx.wait(f"you to download the certificate from {where} into {_home(watcher.directory)}",
                   after_seconds=2,
                   hint="`onboard resume --wait` notices the download by itself; or `onboard resume --p12 "
                        "FILE`.")
