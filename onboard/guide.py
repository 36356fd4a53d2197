"""The guided first time: `onboard start` with no configuration, on a terminal, asks for what it needs,
writes the configuration file (0600), and shows the plan of the whole journey before doing anything.

Defaults come from the environment: the name from the account's full name (GECOS), the e-mail from git's
user.email or $EMAIL, the institution from the e-mail's domain, the submit host from ~/.ssh/config.
Also, for every start: what the VO requires of a person (a CERN account, ...) is said up front.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path
from typing import Any

# Why each step exists, in a sentence a newcomer understands (keyed by workflow state).
WHY = {
    "obtain": "A certificate authority (CA) confirms who you are; you log in at its web portal with your "
              "institution's account and download your personal certificate.",
    "convert": "Grid tools read the certificate and its key as files in ~/.globus; browsers want one .p12. "
               "The key keeps its passphrase, so a stolen copy is useless.",
    "register": "A VO (virtual organisation) is the collaboration whose computers you will use; its "
                "membership service must learn your certificate.",
    "confirm_email": "The VO sends you an e-mail to check the address; onboard finds it and opens the link.",
    "await_approval": "A person, the VO's administrator, approves you: this takes hours or days. onboard "
                      "checks by itself; `onboard resume` any time, `onboard status` shows where you are.",
    "deliver": "The submit host is the machine you run jobs from; onboard copies your credential there over "
               "SSH and makes the files the grid tools want.",
    "verify": "voms-proxy-init on the submit host proves that everything works: your certificate, the VO's "
              "attributes, the files' permissions.",
}


def is_first_time(args: argparse.Namespace, cfg: Any) -> bool:
    return cfg.source is None and not getattr(args, "config", None) and "ONBOARD_CONFIG" not in os.environ


def before_start(args: argparse.Namespace, cfg: Any) -> Any:
    """Run by `onboard start` before the journey exists. Returns the configuration to use."""
    from onboard import catalog
    from onboard.ui import UI

    ui = UI(quiet=getattr(args, "quiet", False))
    first = is_first_time(args, cfg) and ui.interactive
    if first:
        cfg = first_time(ui, args.vo, cfg)
    entry = catalog.lookup(args.vo, cfg)
    if entry is not None and entry.requirements:
        ui.say(f"Before you begin — VO {args.vo} needs: {entry.requirements}")
    if entry is not None and entry.service == catalog.GUIDED_KIND:
        ui.say(f"VO {args.vo}'s IAM registers only people logged in with its single sign-on, so you register "
               "in your browser: onboard shows each step and notices it by itself (it never sends the "
               "registration for you).")
    elif entry is None and getattr(args, "workflow", None):  # an expert's choice: the address may come later
        ui.explain(f"VO {args.vo} is not in onboard's catalog (`onboard vos`); its address comes from "
                   f"[vos.{args.vo}] in the configuration.")
    elif entry is None:  # a typo, most likely; nothing says where to register: refuse before any state exists
        from onboard.errors import ConfigError, Exit

        raise ConfigError(
            f"unknown VO '{args.vo}': it is not in onboard's catalog and the configuration has no "
            f"[vos.{args.vo}].",
            f"See `onboard vos` for the VOs onboard knows; for another VO add "
            f"[vos.{args.vo}] with its kind and url (see config.example.toml).",
            exit_code=Exit.UNKNOWN_VO,
        )
    if entry is not None:
        check_trust(ui, cfg, entry)
    if first:
        show_plan(ui, cfg, args.vo, getattr(args, "workflow", None))
        answer = ui.ask("Start the journey now? [Y/n]", default="").strip().lower() if ui.interactive else "y"
        if answer not in ("", "y", "yes"):
            ui.say(f"Not started. Your settings are in {cfg.source}; `onboard start --vo {args.vo}` when "
                   "ready.")
            raise SystemExit(0)
    return cfg


def check_trust(ui, cfg: Any, entry: Any) -> None:
    """Warn up front when the CAs of the VO's servers are not trusted here (HTTPS would fail later)."""
    from onboard.pki import trustdirs

    cas = sorted({dn for lines in entry.lsc.values() for dn in lines[1:]})
    if not cas:
        return
    where = trustdirs.find(trustdirs.configured(cfg))
    missing = cas if where is None else [dn for dn in cas if trustdirs.find_ca(where.path, dn) is None]
    if missing:
        place = f"the trust directory {where.path}" if where else "any grid trust directory (none found)"
        ui.warn(f"the CA of VO {entry.name}'s servers ({missing[0]}) is not in {place}; the registration and "
                "the VOMS check need it. `onboard trust` says how to install the IGTF trust anchors.")


# ---- defaults from the environment -----------------------------------------------------------------

def default_name() -> tuple[str, str]:
    try:
        import pwd

        gecos = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
    except (ImportError, KeyError):
        gecos = ""
    parts = gecos.split()
    if len(parts) >= 2:
        return " ".join(parts[:-1]), parts[-1]
    return (parts[0], "") if parts else ("", "")


def default_email() -> str:
    try:
        out = subprocess.run(["git", "config", "--get", "user.email"], capture_output=True, text=True,
                             timeout=5, stdin=subprocess.DEVNULL, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out or os.environ.get("EMAIL", "")


def default_submit_host(home: Path | None = None) -> str:
    """The first concrete Host of ~/.ssh/config (no wildcards)."""
    path = Path(home or Path.home()) / ".ssh" / "config"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        words = line.strip().split()
        if len(words) >= 2 and words[0].lower() == "host":
            for name in words[1:]:
                if not any(c in name for c in "*?!"):
                    return name
    return ""


# ---- asking and writing ---------------------------------------------------------------------------

def _ask_email(ui, default: str) -> str:
    while True:
        value = ui.ask("Your e-mail address (the VO writes to it)", default=default, key="user.email").strip()
        if "@" in value and not value.startswith("@") and not value.endswith("@") and " " not in value:
            return value
        ui.say("    That does not look like an e-mail address (jane.doe@example.org).")


def first_time(ui, vo: str, cfg: Any) -> Any:
    from onboard import config, configfile, obtain

    ui.say("Welcome to onboard. This looks like your first time here: a few questions, then the plan.")
    ui.explain("Answers go into a configuration file you can edit later; press Enter to take the [default].")
    given_d, family_d = default_name()
    given = ui.ask("Your given name(s), as on your institution's records", default=given_d,
                   key="user.given_name")
    family = ui.ask("Your family name", default=family_d, key="user.family_name")
    email = _ask_email(ui, default_email())
    institution = ui.ask("Your institution", default=email.rsplit("@", 1)[-1] if "@" in email else "",
                         key="user.institution")
    ui.say(f"VO to join: {vo} (from --vo)")
    choices = "; ".join(f"{k}: {v}" for k, v in obtain.PROVIDERS.items() if k != "cilogon")
    ui.explain(f"Where does your certificate come from? {choices}")
    provider = ""
    while provider not in obtain.PROVIDERS:
        provider = ui.ask("Certificate authority", default="harica", key="ca.provider").strip().lower()
    p12 = ui.ask("A .p12 you already have (path; empty: get one now)", default="", key="ca.p12").strip()
    download_dir = str(cfg.ca.download_dir)
    extra: dict[str, str] = {}
    if not p12 and provider == "sandbox":
        default = os.environ.get("ONBOARD_SANDBOX_DIR", "")
        extra["sandbox_dir"] = ui.ask("The sandbox's directory (of `onboard sandbox up`)", default=default,
                                      key="ca.sandbox_dir").strip()
    elif not p12:
        if provider == "sectigo":
            from onboard.obtain.sectigo import TEMPLATE

            nren = ui.ask("Your NREN's name in the Sectigo address (surfnet, renater, cesnet, ...)",
                          key="ca.portal_url").strip().lower()
            extra["portal_url"] = TEMPLATE.format(nren=nren) if nren.isalnum() else ""
        elif provider == "other":
            extra["portal_url"] = ui.ask("Your CA's portal address (empty: none)", default="",
                                         key="ca.portal_url").strip()
        download_dir = ui.ask("Where your browser saves downloads", default=download_dir,
                              key="ca.download_dir")
    submit = ui.ask("Submit host, where you run jobs (a name or a ~/.ssh/config alias)",
                    default=default_submit_host(), key="submit_host.host").strip()
    values = {
        "vo": vo,
        "user": {"given_name": given, "family_name": family, "email": email, "institution": institution},
        "ca": {"provider": provider, "download_dir": download_dir, **({"p12": p12} if p12 else {}),
               **{k: v for k, v in extra.items() if v}},
        "submit_host": {"host": submit} if submit else {},
    }
    path = config.default_path()
    configfile.write_config(path, values)
    ui.say(f"Wrote your settings to {path} (readable only by you).")
    return config.load(path)


def show_plan(ui, cfg: Any, vo: str, explicit_workflow: str | None = None) -> None:
    """The whole journey, step by step, before anything happens."""
    from onboard import obtain, workflow

    wf = workflow.load(workflow.name_for(cfg, vo, explicit_workflow))
    ui.step(f"The plan: {wf.title}")
    n = 0
    for name in wf.order():
        st = wf.states[name]
        if st.final or st.regions:
            continue
        n += 1
        detail = ""
        if name == "obtain":
            detail = (f" — from {cfg.ca.p12}" if cfg.ca.p12 else
                      f" — {obtain.PROVIDERS.get(cfg.ca.provider, cfg.ca.provider)}")
        elif name == "deliver" and cfg.submit_host.host:
            detail = f" — to {cfg.submit_host.host}"
        ui.say(f"  {n}. {st.description}{detail}{'  (a wait)' if st.wait else ''}")
        if name in WHY:
            ui.explain(f"   {WHY[name]}")
    regions = [s for s in wf.states.values() if s.regions]
    if regions:
        ui.explain("Registration and delivery run side by side, so the journey takes the longer of the two.")
    ui.say("onboard saves where it stands after every step: stop any time, `onboard resume` goes on, "
           "`onboard status` shows where you are.")
