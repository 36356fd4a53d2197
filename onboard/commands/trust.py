"""`onboard trust`: the grid trust anchors in use — where they are, whether the needed CAs are there, how to
get the IGTF distribution — and `--install TARBALL` to put a checked bundle in place."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--install", metavar="TARBALL", help="install trust anchors from this tarball (checked "
                                                        "first)")
    p.add_argument("--sha256", metavar="HEX", help="with --install: the tarball's published SHA-256")
    p.add_argument("--dir", metavar="DIR", help="the trust directory (default: the one in use, or "
                                                "~/.globus/certificates)")
    p.add_argument("--vo", help="check the CAs this VO's VOMS servers need (from the VO catalog)")
    p.add_argument("--check", metavar="DN|FILE", action="append", default=[],
                   help="check that this CA (a slash DN, or a certificate file: its issuer) is trusted")


def _needed(args: argparse.Namespace, cfg) -> list[tuple[str, str]]:
    """(DN, why) of the CAs to look for."""
    from onboard import catalog

    out: list[tuple[str, str]] = []
    for item in args.check:
        path = Path(item).expanduser()
        if not item.startswith("/") or path.is_file():
            from onboard.pki.names import oneline, readable
            from onboard.pki.trustdirs import load_cert

            try:
                cert = load_cert(path)
            except (OSError, ValueError):
                from onboard.errors import UsageError

                raise UsageError(f"{item}: neither a DN (/DC=.../CN=...) nor a certificate file.",
                                 "Give a DN in slash form, or a PEM/DER certificate file.") from None
            out.append((readable(oneline(cert.issuer)), f"issuer of {path.name}"))  # shown with its letters
        else:
            out.append((item, "given"))
    vo = args.vo or (cfg.vo if cfg is not None else "")
    entry = catalog.lookup(vo, cfg) if vo else None
    if entry is not None:
        for host, lines in entry.lsc.items():
            for dn in lines[1:]:
                out.append((dn, f"VO {vo}: CA of {host}"))
    return out


def run(args: argparse.Namespace) -> int:
    from onboard import app
    from onboard.errors import Exit
    from onboard.pki import bundle, trustdirs
    from onboard.ui import UI

    ui = UI(quiet=args.quiet)
    cfg = app.load_config(args)
    if args.install:
        dest = Path(args.dir).expanduser() if args.dir else bundle.install_target(trustdirs.configured(cfg))
        done = bundle.install(Path(args.install).expanduser(), dest, sha256=args.sha256)
        ui.say(f"Installed {done.cas} CA certificate(s) in {done.directory}, each checked (a CA, its hash "
               "name right).")
        if done.backup:
            ui.say(f"The previous directory is kept as {done.backup}.")
        if done.expired:
            ui.warn(f"{len(done.expired)} certificate(s) in the bundle have expired: "
                    f"{', '.join(done.expired[:5])}")
        if done.skipped:
            ui.explain(f"Left out {len(done.skipped)} file(s) that are not trust anchors "
                       f"({', '.join(done.skipped[:3])}{'...' if len(done.skipped) > 3 else ''}).")
        first = trustdirs.find(trustdirs.configured(cfg))
        if first and first.path != done.directory:
            ui.warn(f"grid tools use {first.path} ({first.why}) before {done.directory}; "
                    f"set X509_CERT_DIR={done.directory} to use the new one.")
        return Exit.OK
    in_use = (trustdirs.Candidate(Path(args.dir).expanduser(), "--dir") if args.dir
              else trustdirs.find(trustdirs.configured(cfg)))
    ui.explain("Grid tools trust a server or a certificate only if its CA is in the trust directory: the "
               "IGTF distribution of accredited CAs, installed on your computer.")
    if in_use is None or not in_use.path.is_dir():
        ui.say("No grid trust directory found. Looked in:")
        for c in trustdirs.candidates(trustdirs.configured(cfg)):
            ui.say(f"  {c.path}  ({c.why})")
        for line in bundle.how_to_get():
            ui.say(line)
        return Exit.TRUST
    ui.say(f"Trust directory in use: {in_use.path} ({in_use.why}), {trustdirs.count_cas(in_use.path)} CA(s).")
    missing = 0
    for dn, why in _needed(args, cfg):
        found = trustdirs.find_ca(in_use.path, dn)
        if found:
            ui.say(f"  ✓ {dn}  ({why}) — {found.path.name}")
        else:
            missing += 1
            ui.say(f"  ✗ {dn}  ({why}) — not there")
    if missing:
        for line in bundle.how_to_get():
            ui.say(line)
        return Exit.TRUST
    return Exit.OK
