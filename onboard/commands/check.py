"""`onboard check [--warn-days N] [--json] [--offline]`: everything that can lapse, in one look.

For a person and for cron or a systemd timer: one line per item with what to do, and an exit code
scripts can act on: 0 all fine, 50 something lapses within N days, 51 something has lapsed, 52 some item
could not be checked (and nothing lapses). The local checks (certificate, CRAB's rule for CMS, trust
anchors) need no secret; the network checks (each submit host's certificate over SSH, read-only; the VO
membership over HTTPS with the client certificate, as the journey does) never prompt when standard
input is not a terminal: a passphrase they cannot get makes them "skipped".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STATE_LABEL = {"ok": "ok", "info": "info", "lapsing": "LAPSING", "lapsed": "LAPSED", "unknown": "unknown",
               "skipped": "skipped"}


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("--warn-days", type=int, default=30, metavar="N",
                   help="say LAPSING for what ends within N days (default 30)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--offline", action="store_true",
                   help="local checks only (certificate, trust anchors): no network, no secret")
    p.add_argument("--vo", help="only this VO's journey")
    p.add_argument("--passphrase-file", type=Path, metavar="FILE",
                   help="file whose first line is the key's passphrase (else credentials.passphrase_command "
                   "or _file; a prompt only on a terminal)")


def run(args: argparse.Namespace) -> int:
    from onboard import app, lapse
    from onboard.errors import UsageError, one_line
    from onboard.state import utcnow

    if not 0 <= args.warn_days <= 3650:
        raise UsageError(f"--warn-days {args.warn_days} is out of range.", "Give 0 to 3650 days.")
    cfg = app.load_config(args)
    now = utcnow()
    store = app.store()
    vos = [args.vo] if args.vo else store.journeys()
    records = [store.load(vo) for vo in vos]
    items = _local(cfg, records, now, args.warn_days)
    if not args.offline:
        items += _network(cfg, records, now, args, args.warn_days)
    code = lapse.exit_code(items)
    if args.json:
        print(json.dumps({"checked_at": now.isoformat(timespec="seconds"), "warn_days": args.warn_days,
                          "exit_code": code, "items": [i.as_json() for i in items]}, indent=2))
        return code
    for i in items:  # one line each, whatever a server or a mail put in the texts (one_line escapes)
        line = f"{STATE_LABEL[i.state]:<8} {i.what}: {i.detail}"
        print(one_line(line + (f" -> {i.todo}" if i.todo else "")))
    worst = {50: f"something lapses within {args.warn_days} days", 51: "something has lapsed",
             52: "some items could not be checked"}.get(code, "all fine")
    print(f"({worst}; exit {code})")
    return code


def _cert_path(cfg, records) -> Path:
    for r in records:
        if r.artifacts.cert and Path(r.artifacts.cert).exists():
            return Path(r.artifacts.cert)
    return Path(cfg.credentials.dir).expanduser() / "usercert.pem"


def _local(cfg, records, now, warn_days):
    from onboard.adapters.https import trust_dir
    from onboard.errors import OnboardError
    from onboard.lapse import UNKNOWN, Item, certificate, trust

    path = _cert_path(cfg, records)
    items = [certificate.local(path, now, warn_days)]
    if any(r.vo == "cms" for r in records):
        crab = certificate.crab(path, now, warn_days)
        if crab is not None:
            items.append(crab)
    try:
        items += trust.check(trust_dir(cfg), now, warn_days)
    except OnboardError as e:  # no trust directory anywhere
        items.append(Item("trust anchors", UNKNOWN, e.message, e.hint))
    return items


def _network(cfg, records, now, args, warn_days):
    from onboard import registration
    from onboard.lapse import certificate, hosts, membership
    from onboard.registration.flow import registration_kind
    from onboard.secrets import Secrets
    from onboard.steps.context import StepContext
    from onboard.ui import UI

    ui = UI(quiet=True, interactive=sys.stdin.isatty())  # never a prompt without a terminal
    secrets = Secrets(ui, passphrase_file=args.passphrase_file,
                      passphrase_command=cfg.credentials.passphrase_command,
                      config_passphrase_file=cfg.credentials.passphrase_file)
    items = []
    delivered = [r for r in records if r.artifacts.remote.get("usercert.pem")]
    if delivered and cfg.submit_host.host:
        found = certificate.end_of(_cert_path(cfg, records))
        items.append(hosts.check(cfg, ui, found[1] if found else None, now, warn_days))
    for record in records:
        if record.artifacts.extra.get("registration") != "member":
            continue  # not a member yet: the first year's journey (`onboard status`) says where it stands
        registrar = registration.get(registration_kind(cfg, record.vo, record.workflow))
        ctx = StepContext(record=record, config=cfg, ui=ui, secrets=secrets, checkpoint=lambda: None,
                          now=lambda: now)
        try:
            items += membership.check(ctx, registrar, now, warn_days)
        finally:
            ctx.close()  # read-only: the record is never saved
    return items + _mails(cfg, secrets, records, items, now)


def _mails(cfg, secrets, records, items, now):
    """The AUP and suspension mails, for the VOs whose service did not tell the AUP's state itself (IAM, a
    VO refusing user-info): where it did, its record is newer than any mail."""
    from onboard.lapse import INFO, SKIPPED, UNKNOWN, mail

    told = {i.vo for i in items if i.what.startswith("AUP") and i.state not in (INFO, UNKNOWN, SKIPPED)}
    untold = [r.vo for r in records if r.vo not in told]
    if not untold:
        return []
    return [m for m in mail.check(cfg, secrets, [r.vo for r in records], now) if m.vo in untold or not m.vo]
