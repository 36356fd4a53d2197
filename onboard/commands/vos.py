"""`onboard vos`: the VO catalog — which VOs onboard knows, how each registers members, what each needs."""

from __future__ import annotations

import argparse
import json


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("vo", nargs="?", help="show one VO in full (its vomses lines and LSC files)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--update",
        nargs="?",
        const="https://github.com/opensciencegrid/osg-vo-config/archive/refs/heads/master.tar.gz",
        metavar="FILE|URL",
        help="refresh the vomses lines and LSC files from the OSG vo-client layout (vomses plus "
        "vomsdir/<vo>/<host>.lsc): a directory, a tarball, or an https:// tarball (default: osg-vo-config)",
    )



def _cfg(args: argparse.Namespace):
    from onboard import app

    return app.load_config(args)


def run(args: argparse.Namespace) -> int:
    from onboard import catalog
    from onboard.errors import Exit, UsageError

    if args.update is not None:
        return _update(args)
    cfg = _cfg(args)
    if args.vo:
        entry = catalog.lookup(args.vo, cfg)
        if entry is None:
            names = ", ".join(e.name for e in catalog.all_entries(cfg))
            raise UsageError(f"no VO '{args.vo}' in the catalog or the configuration.",
                             f"Known VOs: {names}. Add one as [vos.{args.vo}] in the config file.")
        entries = [entry]
    else:
        entries = catalog.all_entries(cfg)
    if args.json:
        print(json.dumps([e.__dict__ for e in entries], indent=2, ensure_ascii=False))
        return Exit.OK
    if not args.vo:
        width = max(len(e.name) for e in entries)
        for e in entries:
            retired = f"  ({e.kind.upper()}: retired)" if e.kind in catalog.RETIRED_KINDS else ""
            print(f"{e.name:<{width}}  {e.grid or '-':<4}  {e.kind:<10}  {e.title or e.url}{retired}")
        print("\n`onboard vos VO` shows one in full; config [vos.VO] adds a VO or overrides any key.")
        return Exit.OK
    e = entries[0]
    print(f"{e.name}: {e.title}" if e.title else e.name)
    how = f"{e.kind}, log in first (in a browser; onboard guides)" if e.registration else e.kind
    rows = [("grid", e.grid), ("registration", f"{how} at {e.url}" if e.url else how),
            ("retired", catalog.RETIRED_KINDS.get(e.kind, "")),
            ("you need", e.requirements), ("notes", e.notes), ("checked", e.checked),
            ("data from", e.data_from), ("from", e.source)]
    for label, value in rows:
        if value:
            print(f"  {label + ':':<14}{value}")
    if e.vomses:
        print("  vomses (~/.glite/vomses or /etc/vomses):")
        for line in e.vomses:
            print(f"    {line}")
    for host, lines in e.lsc.items():
        print(f"  LSC (vomsdir/{e.name}/{host}.lsc):")
        for dn in lines:
            print(f"    {dn}")
    for problem in e.problems():
        print(f"  problem: {problem}")
    return Exit.OK


def _update(args: argparse.Namespace) -> int:
    from onboard import catalog_update
    from onboard.errors import Exit

    target, changes = catalog_update.update(args.update)
    for c in changes:
        print(f"{c.vo}: {c.what}")
        for line in c.details:
            print(f"    {line}")
    print(f"Written to {target} (laid over the shipped catalog; delete it to go back).")
    return Exit.OK
