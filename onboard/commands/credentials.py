"""convert, keygen, doctor: the credential commands (the convert step uses the same pieces of credentials/).

Heavy imports (cryptography) happen inside the functions: `onboard --help` must stay fast.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from onboard.errors import CredentialError, Exit, UsageError

if TYPE_CHECKING:
    from onboard.credentials.installer import Installed
    from onboard.credentials.model import Credential
    from onboard.secrets import Secrets
    from onboard.ui import UI


def _passphrase_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--passphrase-file", metavar="F", help="file whose first line is the passphrase")
    g.add_argument("--passphrase-stdin", action="store_true", help="read the passphrase from standard input")


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "convert":
        p.add_argument(
            "file",
            nargs="?",
            metavar="FILE.p12",
            help="the PKCS#12 (.p12/.pfx) from the CA or browser "
            "(a PEM file with certificate and key also works)",
        )
        p.add_argument(
            "--cert",
            metavar="ISSUED.pem",
            help="a PEM certificate instead of a PKCS#12; its key is --key, or the one `onboard keygen` made",
        )
        p.add_argument("--key", metavar="KEY.pem", help="with --cert: the encrypted PEM key")
        p.add_argument(
            "--dest", metavar="DIR", help="where to install (default: config credentials.dir, ~/.globus)"
        )
        _passphrase_args(p)
        p.add_argument(
            "--new-passphrase",
            action="store_true",
            help="protect the key and package with a new passphrase (asked twice, 12+ characters)",
        )
        p.add_argument(
            "--name-format",
            choices=("dated", "cn", "plain"),
            help="<n> in the file names: CN + issue date (default), CN, or the input's name",
        )
        p.add_argument(
            "--csr",
            action="store_true",
            help="also write request-<n>.pem (same key and subject, for renewal)",
        )
        p.add_argument(
            "--no-links", action="store_true", help="do not point usercert.pem/userkey.pem at the new files"
        )
        p.add_argument(
            "--force", action="store_true", help="write again even if this certificate is installed already"
        )
        p.add_argument("--json", action="store_true", help="machine-readable summary")
    elif name == "keygen":
        p.add_argument(
            "--subject",
            required=True,
            metavar="DN",
            help="the certificate's subject, e.g. '/DC=org/DC=example/CN=Jane Doe'",
        )
        p.add_argument("--ec", action="store_true", help="an EC P-256 key instead of RSA 3072")
        p.add_argument("--bits", type=int, default=3072, help="RSA key size (default 3072)")
        p.add_argument("--dest", metavar="DIR", help="also write the CSR there as request-<n>.pem")
        _passphrase_args(p)
    elif name == "doctor":
        p.add_argument(
            "--dir", metavar="DIR", help="credential directory (default: config credentials.dir, ~/.globus)"
        )
        p.add_argument("--vo", help="also check the VO's vomses line and LSC file")
        _passphrase_args(p)
        p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    return {"convert": convert, "keygen": keygen, "doctor": doctor}[args.command](args)


_NOT_CONFIG = {"ONBOARD_CONFIG", "ONBOARD_STATE_DIR", "ONBOARD_DATA_DIR", "ONBOARD_DEBUG"}


def _defaults_only(args: argparse.Namespace) -> bool:
    """No configuration file and no ONBOARD_* override: the defaults apply, pydantic need not load."""
    overrides = [k for k in os.environ if k.startswith("ONBOARD_") and k not in _NOT_CONFIG]
    if getattr(args, "config", None) or overrides:
        return False
    if "ONBOARD_CONFIG" in os.environ:
        return False
    from onboard import paths

    return not (paths.config_dir() / "config.toml").exists()


def _load_config(args: argparse.Namespace):
    if _defaults_only(args):
        # the same values as onboard.config's defaults, without building the pydantic models (start-up time)
        from types import SimpleNamespace

        return SimpleNamespace(
            credentials=SimpleNamespace(
                dir=Path("~/.globus"), name_format="dated", passphrase_command="", passphrase_file=None
            ),
            trust=SimpleNamespace(cert_dir=None),
        )
    from onboard import app

    return app.load_config(args)


def _setup(args: argparse.Namespace) -> tuple[object, UI, Secrets]:
    from onboard.secrets import Secrets
    from onboard.ui import UI

    cfg = _load_config(args)
    ui = UI(quiet=args.quiet)
    creds = cfg.credentials
    secrets = Secrets(
        ui,
        passphrase_file=Path(args.passphrase_file) if args.passphrase_file else None,
        passphrase_stdin=args.passphrase_stdin,
        passphrase_command=creds.passphrase_command,
        config_passphrase_file=creds.passphrase_file,
    )
    return cfg, ui, secrets


def load_input(args: argparse.Namespace, secrets: Secrets) -> tuple[Credential, str]:
    """The credential named on the command line, and the stem for the 'plain' name format."""
    from onboard.credentials import keys, readers
    from onboard.credentials.readers import read_input

    if args.cert:
        if args.file:
            raise UsageError("give either FILE.p12 or --cert, not both.", "See `onboard convert --help`.")
        cert_path = Path(args.cert)
        cert_data = read_input(cert_path)
        if args.key:
            key_path = Path(args.key)
        else:
            from cryptography import x509

            try:
                leaf = x509.load_pem_x509_certificates(cert_data)[0]
            except ValueError:
                raise CredentialError(
                    f"{cert_path} holds no PEM certificate.",
                    "Give the certificate the CA issued (-----BEGIN CERTIFICATE-----).",
                    exit_code=Exit.END_ENTITY,
                ) from None
            key_path = keys.find_for(leaf)
        key_data = read_input(key_path)
        pw = secrets.passphrase(f"Passphrase of the key {key_path.name}")
        return readers.load_pem(
            cert_data, key_data, pw, cert_source=cert_path, key_source=key_path
        ), cert_path.stem
    if args.key:
        raise UsageError("--key goes with --cert.", "Use `onboard convert --cert ISSUED.pem --key KEY.pem`.")
    if not args.file:
        raise UsageError("nothing to convert.", "Give FILE.p12 (or --cert ISSUED.pem).")
    path = Path(args.file)
    data = read_input(path)
    stem = path.name.rsplit(".", 1)[0] if path.suffix.lower() in (".p12", ".pfx", ".pem") else path.name
    if data.lstrip().startswith(b"-----BEGIN"):
        pw = secrets.passphrase(f"Passphrase of {path.name}")
        return readers.load_pem(data, None, pw, cert_source=path), stem
    pw = secrets.passphrase(f"Passphrase of {path.name}")
    return readers.load_pkcs12(data, pw, source=path), stem


def convert(args: argparse.Namespace) -> int:
    from onboard.credentials import checks, installer
    from onboard.secrets import MIN_NEW_PASSPHRASE, key_passphrase

    cfg, ui, secrets = _setup(args)
    cred, stem = load_input(args, secrets)
    now = datetime.now(timezone.utc)
    warnings = checks.check(cred, now)
    tw = checks.trust_warning(cred, cfg.trust.cert_dir)  # type: ignore[attr-defined]
    if tw:
        warnings.append(tw)
    key_pw = key_passphrase(secrets, ui, args.new_passphrase)
    if len(key_pw) < MIN_NEW_PASSPHRASE:
        warnings.append(
            f"the key keeps the PKCS#12's passphrase, which is shorter than {MIN_NEW_PASSPHRASE} "
            "characters; --new-passphrase sets a stronger one."
        )
    dest = Path(args.dest).expanduser() if args.dest else Path(cfg.credentials.dir).expanduser()  # type: ignore[attr-defined]
    fmt = args.name_format or cfg.credentials.name_format  # type: ignore[attr-defined]
    name = cred.name(fmt, stem)
    result = installer.install(
        cred,
        dest,
        key_passphrase=key_pw,
        name=name,
        now=now,
        csr=args.csr,
        links=not args.no_links,
        force=args.force or args.new_passphrase,  # a new passphrase means new files
    )
    for w in warnings:
        ui.warn(w)
    if args.json:
        print(json.dumps(summary(cred, result, warnings), indent=2, ensure_ascii=False))
    else:
        report(ui, cred, result)
    return Exit.OK


def summary(cred: Credential, result: Installed, warnings: list[str]) -> dict:
    return {
        "subject": cred.subject_dn,
        "issuer": cred.issuer_dn,
        "serial": cred.serial_hex,
        "not_before": cred.not_before.isoformat(),
        "not_after": cred.not_after.isoformat(),
        "sha256": cred.sha256,
        "name": result.name,
        "dest": str(result.dest),
        "unchanged": result.unchanged,
        "files": [str(p) for p in result.written()],
        "backups": [[str(a), str(b)] for a, b in result.backups],
        "warnings": warnings,
    }


def report(ui: UI, cred: Credential, result: Installed) -> None:
    ui.step(f"{cred.subject_dn}")
    ui.explain(f"issued by {cred.issuer_dn}; valid {cred.not_before:%Y-%m-%d} to {cred.not_after:%Y-%m-%d}")
    if result.unchanged:
        ui.say(
            f"already installed in {result.dest} as {result.cert.name}; nothing to do (--force writes again)."
        )
        return
    if result.created_dest:
        ui.say(f"created {result.dest} (0700)")
    ui.say(f"installed in {result.dest}:")
    for path in result.written():
        if path.is_symlink():
            ui.say(f"  {path.name} -> {os.readlink(path)}")
        else:
            ui.say(f"  {stat.S_IMODE(path.stat().st_mode):04o}  {path.name}")
    for original, backup in result.backups:
        ui.say(f"  kept the previous {original.name} as {backup.name}")
    ui.explain(
        "Grid tools read usercert.pem/userkey.pem; import package-" + result.name + ".p12 into a browser "
        "or keychain (never the CA's original download)."
    )


def keygen(args: argparse.Namespace) -> int:
    from onboard.credentials import files, keys, naming
    from onboard.secrets import MIN_NEW_PASSPHRASE

    cfg, ui, secrets = _setup(args)
    subject = keys.parse_subject(args.subject)
    if args.passphrase_file or args.passphrase_stdin:
        pw = secrets.passphrase()
        if len(pw) < MIN_NEW_PASSPHRASE:
            raise UsageError(
                f"the passphrase has {len(pw)} characters; a new key needs at least {MIN_NEW_PASSPHRASE}.",
                "Choose a longer passphrase (a few words make a good one).",
            )
    else:
        pw = secrets.new_passphrase("Passphrase for the new key (12 characters or more)")
    stored = keys.generate(subject, pw, kind="ec" if args.ec else "rsa", bits=args.bits)
    ui.step(f"new {'EC P-256' if args.ec else f'RSA {args.bits}'} key {stored.id}")
    ui.say(f"  key (encrypted): {stored.key}")
    ui.say(f"  request:         {stored.csr}")
    if args.dest:
        from cryptography.x509.oid import NameOID

        dest = Path(args.dest).expanduser()
        files.ensure_dest(dest)
        cn = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = naming.sanitize(str(cn[-1].value)) if cn else stored.id
        with files.Transaction(dest, datetime.now().strftime("%Y%m%d-%H%M%S")) as tx:
            tx.write(f"request-{name}.pem", stored.csr_pem, files.CERT_MODE)
            tx.commit()
        ui.say(f"  request copy:    {dest / f'request-{name}.pem'}")
    ui.explain(
        "Paste the request into your CA's form. When the certificate is issued, run "
        "`onboard convert --cert ISSUED.pem`: onboard pairs it with this key."
    )
    print(stored.csr_pem.decode(), end="")
    return Exit.OK


def doctor(args: argparse.Namespace) -> int:
    from onboard.credentials import doctor as doc

    cfg, ui, secrets = _setup(args)
    pw = secrets.passphrase() if (args.passphrase_file or args.passphrase_stdin) else None
    directory = Path(args.dir).expanduser() if args.dir else Path(cfg.credentials.dir).expanduser()  # type: ignore[attr-defined]
    checks = doc.run_checks(
        directory,
        now=datetime.now(timezone.utc),
        vo=args.vo,
        passphrase=pw,
        trust_dir=cfg.trust.cert_dir,  # type: ignore[attr-defined]
        use_env=not args.dir,
    )
    failed = [c for c in checks if c.status == doc.FAIL]
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2, ensure_ascii=False))
    else:
        for c in checks:
            ui.say(f"[{c.status:^4}] {c.title}" + (f": {c.detail}" if c.detail else ""))
            if c.fix and c.status in (doc.FAIL, doc.WARN, doc.SKIP):
                ui.say(f"       fix: {c.fix}")
    if failed:
        raise CredentialError(
            f"{len(failed)} check(s) failed: {', '.join(c.title for c in failed)}.",
            "Apply the fix shown under each failing line, then run `onboard doctor` again.",
            exit_code=Exit.CREDENTIAL,
        )
    ui.say("all checks passed.")
    return Exit.OK
