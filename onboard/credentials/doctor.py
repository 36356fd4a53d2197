"""`onboard doctor`: a checklist like grid-cert-diagnostics, with a fix for each failing line.

Checks the files voms-proxy-init and grid-proxy-init will read, against each consumer's own rule: GCT
(key: no u+x, no group/other bits; cert: at most 644), C++ voms-proxy-init (key: mode & 066 == 0) and
Java voms-proxy-init (key exactly 400 or 600, usercred.p12 exactly 600), all owned by the user.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from onboard.pki import names, trustdirs

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"


@dataclass
class Check:
    status: str
    title: str
    detail: str = ""
    fix: str = ""


def _mode_problems_key(mode: int) -> list[str]:
    perm = stat.S_IMODE(mode)
    out = []
    if perm & 0o177:
        out.append("grid-proxy-init (GCT) allows at most 600")
    if perm & 0o066:
        out.append("voms-proxy-init (C++) allows no group/other read or write")
    if perm not in (0o400, 0o600):
        out.append("voms-proxy-init (Java) wants exactly 400 or 600")
    return out


def _file_check(path: Path, kind: str, checks: list[Check]) -> os.stat_result | None:
    title = f"{kind} {path}"
    try:
        st = path.stat()  # follows links, as every consumer does
    except FileNotFoundError:
        fix = "Run `onboard convert FILE.p12` to install your credential here."
        if path.is_symlink():
            checks.append(Check(FAIL, title, f"a link to {os.readlink(path)}, which does not exist", fix))
        else:
            checks.append(Check(FAIL, title, "missing", fix))
        return None
    except OSError as e:
        checks.append(
            Check(FAIL, title, f"cannot be read: {e.strerror}", "Check the directory's permissions.")
        )
        return None
    if not stat.S_ISREG(st.st_mode):
        checks.append(
            Check(FAIL, title, "is not a regular file", "Replace it with the file `onboard convert` writes.")
        )
        return None
    checks.append(Check(OK, title, "present"))
    return st


def _owner_mode(path: Path, st: os.stat_result, kind: str, checks: list[Check]) -> None:
    perm = stat.S_IMODE(st.st_mode)
    problems = []
    if st.st_uid != os.geteuid():
        problems.append(f"owned by uid {st.st_uid}, not by you (uid {os.geteuid()})")
    if st.st_size == 0:
        problems.append("empty")
    if kind == "key":
        problems += _mode_problems_key(st.st_mode)
        fix = f"chmod 600 {shlex.quote(str(path.resolve()))}"
    elif kind == "cert":
        if perm & 0o133:
            problems.append("grid-proxy-init (GCT) allows at most 644, no write or execute for others")
        fix = f"chmod 644 {shlex.quote(str(path.resolve()))}"
    else:  # usercred.p12
        if perm != 0o600:
            problems.append("voms-proxy-init (Java) wants exactly 600")
        fix = f"chmod 600 {shlex.quote(str(path.resolve()))}"
    if st.st_uid != os.geteuid():
        fix = f"sudo chown {os.geteuid()} {shlex.quote(str(path.resolve()))}; " + fix
    title = f"{kind} owner and mode ({perm:03o})"
    if problems:
        checks.append(Check(FAIL, title, "; ".join(problems), fix))
    else:
        checks.append(Check(OK, title, "accepted by grid-proxy-init and both voms-proxy-inits"))


def _directory_check(directory: Path, checks: list[Check]) -> None:
    """Whoever may write to the credential directory may swap the key: GCT refuses such a directory."""
    from onboard.paths import unsafe_dir_reason

    if not directory.is_dir():
        return  # the files' own checks say what is missing
    title = f"directory {directory}"
    link = f"a link to {os.readlink(directory)}; " if directory.is_symlink() else ""
    why = unsafe_dir_reason(directory)
    if why:
        checks.append(Check(FAIL, title, link + why, f"chmod go-w {shlex.quote(str(directory.resolve()))}"))
    else:
        checks.append(Check(WARN if link else OK, title, link + "yours, no group/other write"))


def vomses_paths(environ: dict[str, str]) -> list[Path]:
    home = Path(environ.get("HOME") or Path.home())
    out = []
    if environ.get("VOMS_USERCONF"):
        out.append(Path(environ["VOMS_USERCONF"]))
    out += [home / ".glite" / "vomses", home / ".voms" / "vomses", Path("/etc/vomses")]
    return out


def vomses_lines(vo: str, environ: dict[str, str]) -> list[tuple[Path, list[str]]]:
    """Every vomses entry for the VO: (file, [alias, host, port, host DN, vo name, ...])."""
    found = []
    for base in vomses_paths(environ):
        candidates = (
            sorted(p for p in base.iterdir() if p.is_file())
            if base.is_dir()
            else [base]
            if base.is_file()
            else []
        )
        for path in candidates:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                try:
                    fields = shlex.split(line, comments=True)
                except ValueError:
                    continue
                if len(fields) >= 5 and vo in (fields[0], fields[4]):
                    found.append((path, fields))
    return found


def vomsdir(environ: dict[str, str]) -> Path:
    return Path(environ.get("X509_VOMS_DIR") or "/etc/grid-security/vomsdir")


def run_checks(
    directory: Path,
    *,
    now: datetime,
    vo: str | None = None,
    passphrase: str | None = None,
    trust_dir: Path | None = None,
    environ: dict[str, str] | None = None,
    use_env: bool = False,
) -> list[Check]:
    """The checklist. With use_env, X509_USER_CERT/X509_USER_KEY win over the directory, as in every
    grid tool's search order."""
    from cryptography import x509

    from onboard.credentials.checks import WARN_DAYS
    from onboard.credentials.model import public_key_der
    from onboard.credentials.readers import load_pem_key
    from onboard.errors import OnboardError

    env = dict(os.environ if environ is None else environ)
    directory = Path(directory).expanduser()
    checks: list[Check] = []
    cert_path, key_path, p12_path = (
        directory / "usercert.pem",
        directory / "userkey.pem",
        directory / "usercred.p12",
    )
    if use_env:
        for var, default in (("X509_USER_CERT", cert_path), ("X509_USER_KEY", key_path)):
            if env.get(var) and Path(env[var]) != default:
                checks.append(
                    Check(
                        WARN,
                        f"{var} is set",
                        f"grid tools read {env[var]}, not {default}",
                        f"unset {var} to use {default}, or check that file as below.",
                    )
                )
        cert_path = Path(env.get("X509_USER_CERT") or cert_path)
        key_path = Path(env.get("X509_USER_KEY") or key_path)
    _directory_check(directory, checks)
    cert_st = _file_check(cert_path, "certificate", checks)
    key_st = _file_check(key_path, "key", checks)
    if cert_st:
        _owner_mode(cert_path, cert_st, "cert", checks)
    if key_st:
        _owner_mode(key_path, key_st, "key", checks)
    if p12_path.exists():
        _owner_mode(p12_path, p12_path.stat(), "usercred.p12", checks)

    cert = None
    if cert_st:
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (ValueError, OSError):
            checks.append(
                Check(
                    FAIL,
                    "certificate readable",
                    "not a PEM certificate",
                    "Run `onboard convert FILE.p12` again.",
                )
            )
    key = None
    if key_st:
        data = key_path.read_bytes()
        encrypted = b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data
        if encrypted:
            checks.append(Check(OK, "key is encrypted", "protected by a passphrase"))
        else:
            checks.append(
                Check(
                    WARN,
                    "key is encrypted",
                    "the key is stored in the clear",
                    f"openssl pkey -in {shlex.quote(str(key_path))} -aes256 -out NEW (then replace it)",
                )
            )
        if passphrase is None and encrypted:
            checks.append(
                Check(
                    SKIP,
                    "key decrypts",
                    "no passphrase given",
                    "Add --passphrase-file F or --passphrase-stdin to check it.",
                )
            )
        else:
            try:
                key = load_pem_key(data, passphrase or "", str(key_path))
                checks.append(Check(OK, "key decrypts", "the passphrase opens it"))
            except OnboardError as e:
                checks.append(Check(FAIL, "key decrypts", e.message, e.hint))
    if cert is not None and key is not None:
        if public_key_der(cert.public_key()) == public_key_der(key.public_key()):  # type: ignore[attr-defined]
            checks.append(Check(OK, "key matches certificate"))
        else:
            checks.append(
                Check(
                    FAIL,
                    "key matches certificate",
                    "the key belongs to another certificate",
                    "Point userkey.pem at the key-<n>.pem made with this cert-<n>.pem.",
                )
            )
    if cert is not None:
        nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
        if now < nb:
            checks.append(
                Check(FAIL, "validity", f"not valid before {nb:%Y-%m-%d %H:%M} UTC", "Check the clock.")
            )
        elif now > na:
            checks.append(
                Check(
                    FAIL, "validity", f"expired on {na:%Y-%m-%d}", "Request a new certificate from your CA."
                )
            )
        elif na - now < timedelta(days=WARN_DAYS):
            checks.append(
                Check(
                    WARN,
                    "validity",
                    f"expires in {(na - now).days} days ({na:%Y-%m-%d})",
                    "Renew it soon (onboard keygen makes a CSR if your CA takes one).",
                )
            )
        else:
            checks.append(Check(OK, "validity", f"until {na:%Y-%m-%d}"))

    found = trustdirs.find(trust_dir, env)
    tdir = found.path if found else None
    if tdir is None:
        where = ", ".join(c.why for c in trustdirs.candidates(trust_dir, env))
        checks.append(
            Check(
                FAIL,
                "trust directory",
                f"none found ({where})",
                "Install the IGTF CA bundle (ca-policy-egi-core or osg-ca-certs), or set X509_CERT_DIR.",
            )
        )
    else:
        checks.append(Check(OK, "trust directory", str(tdir)))
        if cert is not None:
            if trustdirs.find_issuer(cert, tdir) is not None:
                checks.append(Check(OK, "issuer trusted", names.oneline(cert.issuer)))
            else:
                checks.append(
                    Check(
                        FAIL,
                        "issuer trusted",
                        f"{names.oneline(cert.issuer)} is not in {tdir}",
                        "Install your CA's IGTF bundle there (hash "
                        f"{names.subject_hash(cert.issuer)}.0).",
                    )
                )
    if vo:
        entries = vomses_lines(vo, env)
        if entries:
            path, fields = entries[0]
            checks.append(Check(OK, f"vomses for {vo}", f"{fields[1]}:{fields[2]} in {path}"))
        else:
            where = ", ".join(str(p) for p in vomses_paths(env))
            checks.append(
                Check(
                    FAIL,
                    f"vomses for {vo}",
                    f"no line for {vo} in {where}",
                    f'Add the VO\'s line ("{vo}" "host" "port" "host DN" "{vo}") to ~/.voms/vomses.',
                )
            )
        vdir = vomsdir(env) / vo
        hosts = sorted({f[1] for _, f in entries})
        lsc = sorted(vdir.glob("*.lsc")) if vdir.is_dir() else []
        missing = [h for h in hosts if not (vdir / f"{h}.lsc").is_file()]
        if lsc and not missing:
            checks.append(Check(OK, f"LSC files for {vo}", ", ".join(p.name for p in lsc)))
        else:
            need = ", ".join(f"{h}.lsc" for h in missing) if missing else "<host>.lsc"
            checks.append(
                Check(
                    FAIL,
                    f"LSC files for {vo}",
                    f"{need} missing in {vdir}",
                    f"Create {vdir}/<host>.lsc with two lines: the VOMS server's DN, then its CA's DN.",
                )
            )
    return checks
