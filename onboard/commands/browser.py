"""`onboard browser-import` and `onboard browser-export`: the certificate into (or out of) the NSS databases
of Firefox and Thunderbird; the steps for browsers that use the operating system's store."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", metavar="DIR", action="append", default=[],
                   help="an NSS profile directory (default: every Firefox/Thunderbird profile found)")
    p.add_argument("--db-password-file", metavar="F",
                   help="file whose first line is the profile's primary password (default: ask)")
    p.add_argument("--list", action="store_true", help="list the profiles found, with password and "
                                                       "certificates")
    if name == "browser-import":
        p.add_argument("--p12", metavar="FILE", help="the .p12 to import (default: the journey's "
                                                     "package-<n>.p12)")
        p.add_argument("--vo", help="the journey whose package to import (default: the only one)")
        p.add_argument("--passphrase-file", metavar="F", help="file whose first line is the .p12's "
                                                              "passphrase")
        p.add_argument("--passphrase-stdin", action="store_true", help="read the .p12's passphrase from "
                                                                       "stdin")
    else:
        p.add_argument("--nickname", help="the certificate to export (default: the only one with a key)")
        p.add_argument("--out", metavar="FILE", help="where to write the .p12 (default: onboard's own "
                                                     "directory)")
        p.add_argument("--passphrase-file", metavar="F",
                       help="file whose first line is the passphrase for the exported .p12 (default: ask "
                            "twice)")


def _profiles(args: argparse.Namespace):
    from onboard import browser
    from onboard.errors import UsageError

    if args.profile:
        out = []
        for d in args.profile:
            path = Path(d).expanduser()
            if not browser._is_db(path):
                raise UsageError(f"{path}: no NSS certificate database (cert9.db) there.",
                                 "Give a Firefox or Thunderbird profile directory (about:support shows it).")
            low = str(path.resolve()).lower()
            app_name = "Thunderbird" if "thunderbird" in low else "Firefox" if "firefox" in low else "NSS"
            out.append(browser.Profile(app_name, path.name, path))
        return out
    return browser.find_profiles()


def _db_password(args: argparse.Namespace, ui, profile) -> str:
    from onboard.secrets import from_file

    if args.db_password_file:
        return from_file(Path(args.db_password_file), "primary password")
    return ui.ask(f"Primary password of {profile.app} profile '{profile.name}'", secret=True,
                  flag="--db-password-file")


def _package(args: argparse.Namespace, cfg) -> Path:
    from onboard import app
    from onboard.errors import UsageError

    if args.p12:
        path = Path(args.p12).expanduser()
        if not path.is_file():
            raise UsageError(f"{path}: no such file.", "Give the package-<name>.p12 that `onboard convert` "
                                                       "made.")
        return path
    st = app.store()
    vos = [args.vo] if args.vo else st.journeys()
    for vo in vos:
        try:
            pkg = st.read_raw(vo).get("artifacts", {}).get("package")
        except Exception:
            pkg = None
        if pkg and Path(pkg).is_file():
            return Path(pkg)
    found = sorted(Path(cfg.credentials.dir).expanduser().glob("package-*.p12"),
                   key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    raise UsageError("no certificate package to import (no journey has made one, and ~/.globus has none).",
                     "Finish the convert step (`onboard resume`) or give --p12 FILE.")


def _trust_sites(args: argparse.Namespace, ui, cfg, prof, db_password: str) -> None:
    """The CA chain of each VO registration site this configuration knows, into the profile: the browser
    then opens those pages (the OSG guide's CA step). A site that cannot be read costs the import nothing."""
    from onboard import browser
    from onboard.errors import OnboardError
    from onboard.pki import trustdirs
    from onboard.registration.flow import registration_url

    where = trustdirs.find(trustdirs.configured(cfg))
    if where is None:
        return
    vos = [args.vo] if args.vo else ([cfg.vo] if cfg.vo else list(cfg.vos))
    urls = []
    for vo in vos:
        try:
            urls.append(registration_url(cfg, vo))
        except OnboardError:
            continue
    for url in dict.fromkeys(urls):
        try:
            added = browser.trust_cas(prof, browser.site_cas(url, where.path), db_password)
        except OnboardError as e:
            ui.say(f"✗ {e.message} {e.hint}")
            continue
        if added:
            ui.say(f"✓ {prof.label()} trusts {', '.join(added)} for {url} (the site's CA, from {where.path})")


def _list(ui, profiles) -> int:
    from onboard import browser
    from onboard.errors import Exit

    if not profiles:
        ui.say("No Firefox or Thunderbird profile found.")
    for prof in profiles:
        pw = "primary password set" if browser.has_primary_password(prof) else "NO primary password"
        certs = browser.user_certs(prof)
        ui.say(f"{prof.label()}: {pw}; {len(certs)} personal certificate(s)")
        for nick in certs:
            ui.say(f"    {nick}")
    return Exit.OK


def run(args: argparse.Namespace) -> int:
    from onboard import app
    from onboard.ui import UI

    ui = UI(quiet=args.quiet)
    cfg = app.load_config(args)
    profiles = _profiles(args)
    if args.list:
        return _list(ui, profiles)
    return (_import if args.command == "browser-import" else _export)(args, ui, cfg, profiles)


def _import(args: argparse.Namespace, ui, cfg, profiles) -> int:
    from onboard import browser
    from onboard.errors import Exit
    from onboard.secrets import Secrets

    ui.explain("Web pages of VO registration services (VOMS-Admin, IAM) recognise you by the certificate in "
               "your browser; mail clients use it to sign mail.")
    p12 = _package(args, cfg)
    if not profiles:
        for line in browser.os_store_steps():
            ui.say(line)
        raise browser.BrowserError("no Firefox or Thunderbird profile with a certificate database was found.",
                                   "Start Firefox once (it creates the profile), or give --profile DIR.")
    ready, refused = [], []
    for prof in profiles:
        if browser.has_primary_password(prof):
            ready.append(prof)
        else:
            refused.append(prof)
            ui.say(f"✗ {prof.label()}: no primary password; your key would sit there unprotected, so onboard "
                   "will not put it there. Set one:")
            for line in browser.set_password_steps(prof):
                ui.say(f"    {line}")
    imported = []
    if ready:
        creds = cfg.credentials
        secrets = Secrets(ui, passphrase_file=Path(args.passphrase_file) if args.passphrase_file else None,
                          passphrase_stdin=args.passphrase_stdin, passphrase_command=creds.passphrase_command,
                          config_passphrase_file=creds.passphrase_file)
        passphrase = secrets.passphrase(f"Passphrase of {p12.name}")
        for prof in ready:
            if prof.running():
                ui.explain(f"{prof.app} is running; the certificate shows up there at once or after a "
                           "restart.")
            db_password = _db_password(args, ui, prof)
            browser.import_p12(prof, p12, passphrase, db_password)
            imported.append(prof)
            ui.say(f"✓ imported {p12.name} into {prof.label()}")
            _trust_sites(args, ui, cfg, prof, db_password)
    ui.say("")
    for line in browser.os_store_steps():
        ui.say(line)
    if refused:
        raise browser.BrowserError(
            f"{len(refused)} profile(s) refused for lack of a primary password"
            + (f" ({len(imported)} imported)." if imported else "; nothing imported."),
            "Set a primary password as shown above, then run `onboard browser-import` again.")
    return Exit.OK


def _export(args: argparse.Namespace, ui, cfg, profiles) -> int:
    from datetime import datetime, timezone

    from onboard import browser, paths
    from onboard.errors import Exit, UsageError
    from onboard.secrets import MIN_NEW_PASSPHRASE, Secrets, from_file

    ui.explain("For a certificate that lives only in your browser (the OSG guide's way): onboard takes a "
               "copy with its key, protected by a new passphrase, and the journey goes on from it.")
    withcerts = [(p, browser.user_certs(p)) for p in profiles]
    if args.nickname:
        withcerts = [(p, [n for n in c if n == args.nickname]) for p, c in withcerts]
    withcerts = [(p, c) for p, c in withcerts if c]
    choices = [(p, n) for p, c in withcerts for n in c]
    if not choices:
        raise UsageError("no personal certificate (one with its key) found in the profiles"
                         + (f" named '{args.nickname}'." if args.nickname else "."),
                         "Check with `onboard browser-export --list`; give --profile DIR or --nickname.")
    if len(choices) > 1:
        listing = "; ".join(f"'{n}' in {p.label()}" for p, n in choices[:5])
        raise UsageError(f"several certificates could be exported: {listing}.",
                         "Choose one with --nickname (and --profile DIR).")
    prof, nickname = choices[0]
    if args.passphrase_file:
        new = from_file(Path(args.passphrase_file), "passphrase")
        if len(new) < MIN_NEW_PASSPHRASE:
            raise UsageError(f"the new passphrase has {len(new)} characters; at least {MIN_NEW_PASSPHRASE} "
                             "are needed.",
                             "Choose a longer passphrase (a few words make a good one).")
    else:
        new = Secrets(ui).new_passphrase("New passphrase for the exported certificate (12 characters or "
                                         "more)")
    db_password = _db_password(args, ui, prof) if browser.has_primary_password(prof) else ""
    if args.out:
        out = Path(args.out).expanduser()
    else:
        directory = paths.ensure_private_dir(paths.data_dir() / "obtained")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = directory / f"{stamp}-{prof.app.split('/')[0].lower()}-export.p12"
    if out.exists():
        raise UsageError(f"{out} exists already; onboard does not overwrite it.", "Give another --out FILE.")
    browser.export_p12(prof, nickname, out, db_password, new)
    ui.say(f"✓ exported '{nickname}' from {prof.label()} to {out} (readable only by you).")
    ui.say(f"Go on with: onboard start --vo VO --p12 {out}   (or: onboard convert {out})")
    return Exit.OK
