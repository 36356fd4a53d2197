"""Verification on the submit host, over the same kind of single connection:

1. the installed files: regular, owned by the user, not empty, modes that GCT and both voms-proxy-inits
   accept (key 0400/0600, cert at most 0644 without x, usercred.p12 exactly 0600), and the key (decrypted
   in memory here, never on disk) belongs to the certificate;
2. when the host has voms-clients: `voms-proxy-init -voms VO -pwstdin` (into a private temporary proxy)
   and `voms-proxy-info -all`, whose FQANs must include the VO's. First with the host's own vomses and
   vomsdir when they carry the VO (host_voms: sites keep them current), saying where they and onboard's
   catalog differ; only where the host lacks the VO, or its files fail, with the VO's vomses line(s)
   under ~/.glite/vomses and LSC files under ~/.voms/vomsdir/<vo>/ (host files that failed where these
   work are named as stale). An AC that no LSC accepts is explained by the DN and CA that signed it
   (ac_issuer).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import paramiko

from onboard.delivery import ac_issuer, host_voms, lapse_messages, scripts
from onboard.delivery.install import CERT, GLOBUS, KEY, P12, replace
from onboard.delivery.local import cert_sha256_of_pem, key_spki_sha256
from onboard.errors import Exit, OnboardError, SSHError

if TYPE_CHECKING:
    from onboard.adapters.ssh import Connection

VOMSES_DIR = ".glite/vomses"
VOMSDIR = ".voms/vomsdir"


class VerifyError(OnboardError):
    exit_code = Exit.VERIFY


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class VOTrust:
    """What voms-proxy-init needs to reach and trust the VO's VOMS servers."""

    vomses: list[str]  # lines: "alias" "host" "port" "DN" "vo"
    lsc: dict[str, list[str]]  # host -> [server DN, CA DN, ...]


@dataclass
class Verification:
    host: str
    checks: list[Check] = field(default_factory=list)
    fqans: list[str] = field(default_factory=list)
    voms: str = ""  # "ok", or why voms-proxy-init did not run
    output: str = ""  # voms-proxy-init + voms-proxy-info output (no secret in it)
    installed: list[str] = field(default_factory=list)
    trust_from: str = ""  # whose vomses/LSC voms-proxy-init used: "host" (its own files) or "onboard"
    disagreements: list[str] = field(default_factory=list)  # host files against onboard's catalog
    stale: list[str] = field(default_factory=list)  # host files that failed where onboard's worked

    @property
    def files_ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def summary(self) -> dict:
        return {
            "host": self.host,
            "checks": {c.name: ("ok" if c.ok else c.detail) for c in self.checks},
            "voms": self.voms,
            "fqans": self.fqans,
            "installed": self.installed,
            "trust_from": self.trust_from,
            "disagreements": self.disagreements,
            "stale": self.stale,
        }


def _mode_rules(name: str, mode: int) -> str:
    """'' when `mode` satisfies GCT, C++ and Java voms-proxy-init for that file; else why not."""
    perm = mode & 0o7777
    if name == KEY and perm not in (0o400, 0o600):
        return f"mode {perm:04o}; a key must be 0400 or 0600"
    if name == CERT and perm & 0o133:
        return f"mode {perm:04o}; a certificate may be at most 0644, never executable"
    if name == P12 and perm != 0o600:
        return f"mode {perm:04o}; usercred.p12 must be exactly 0600 (Java voms-proxy-init)"
    return ""


def check_files(
    conn: Connection, passphrase: str, uid: int | None, expect_cert_sha256: str = ""
) -> list[Check]:
    sftp = conn.sftp
    checks: list[Check] = []
    data: dict[str, bytes] = {}
    for name in (CERT, KEY, P12):
        path = f"{GLOBUS}/{name}"
        try:
            st = sftp.stat(path)  # follows links, as every consumer does
        except FileNotFoundError:
            checks.append(Check(f"{name} present", False, f"~/{path} is missing"))
            continue
        problems = []
        mode = st.st_mode or 0
        if not stat.S_ISREG(mode):
            problems.append("not a regular file")
        if not st.st_size:
            problems.append("empty")
        if uid is not None and st.st_uid != uid:
            problems.append(f"owned by uid {st.st_uid}, not by you ({uid})")
        why = _mode_rules(name, mode)
        if why:
            problems.append(why)
        checks.append(Check(f"{name} owner and mode", not problems, "; ".join(problems)))
        if name != P12 and stat.S_ISREG(mode) and (st.st_size or 0) < 1 << 20:
            try:
                with sftp.open(path, "rb") as f:
                    data[name] = f.read()
            except OSError as e:
                checks.append(Check(f"{name} readable", False, str(e.strerror or e)))
    if CERT in data and KEY in data:
        cert_hash = cert_sha256_of_pem(data[CERT])
        if cert_hash is None:
            checks.append(Check("certificate readable", False, "usercert.pem holds no PEM certificate"))
        else:
            if expect_cert_sha256:
                same = cert_hash == expect_cert_sha256.replace(":", "").lower()
                checks.append(
                    Check(
                        "certificate is the one delivered",
                        same,
                        "" if same else "usercert.pem holds another certificate",
                    )
                )
            from cryptography import x509

            from onboard.delivery.local import spki_sha256

            cert_spki = spki_sha256(x509.load_pem_x509_certificate(data[CERT]).public_key())
            key_spki = key_spki_sha256(data[KEY], passphrase)
            if key_spki is None:
                checks.append(
                    Check("key matches certificate", False, "userkey.pem does not open with your passphrase")
                )
            else:
                same = key_spki == cert_spki
                checks.append(
                    Check(
                        "key matches certificate",
                        same,
                        "" if same else "userkey.pem belongs to another certificate",
                    )
                )
    return checks


# -- vomses and LSC ---------------------------------------------------------------------------------------


def _parse_vomses(line: str) -> tuple[str, str]:
    """(host, vo) of a vomses line."""
    from onboard.catalog import parse_vomses

    try:
        parsed = parse_vomses(line)
    except ValueError as e:
        raise VerifyError(
            f"vomses line {line!r}: {e}.",
            'A vomses line is: "alias" "host" "port" "server DN" "vo".',
            exit_code=Exit.CONFIG,
        ) from None
    return parsed.host, parsed.vo


def _write_public(sftp: paramiko.SFTPClient, path: str, data: bytes, now: datetime) -> str:
    """Write a non-secret file (0644) atomically; a different one already there is kept as a backup.
    Returns what was done ('' when the file was already right)."""
    try:
        with sftp.open(path, "rb") as f:
            old = f.read()
        if old == data:
            return ""
        backup = f"{path}.backup.{now:%Y%m%d-%H%M%S}"
        replace(sftp, path, backup)
        note = f"~/{path} (previous one kept as ~/{backup})"
    except FileNotFoundError:
        note = f"~/{path}"
    tmp = f"{path}.onboard-tmp"
    with sftp.open(tmp, "wb") as f:
        f.write(data)
    sftp.chmod(tmp, 0o644)
    replace(sftp, tmp, path)
    return note


def _mkdirs(sftp: paramiko.SFTPClient, path: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i])
        try:
            sftp.stat(p)
        except FileNotFoundError:
            sftp.mkdir(p, 0o755)


def install_vo_trust(
    conn: Connection, vo: str, trust: VOTrust, glite_vomses: str, now: datetime
) -> tuple[str, list[str]]:
    """vomses and LSC files for `vo` in the user's home.
    Returns (the vomses path to use, what was written)."""
    sftp = conn.sftp
    written: list[str] = []
    lines = [ln.strip() for ln in trust.vomses if ln.strip()]
    hosts = []
    for ln in lines:
        host, line_vo = _parse_vomses(ln)
        if line_vo == vo:
            hosts.append(host)
    try:
        if glite_vomses == "file":
            # the user keeps one vomses file: add our lines to it, keep theirs
            with sftp.open(VOMSES_DIR, "rb") as f:
                old = f.read().decode("utf-8", "replace")
            have = {x.strip() for x in old.splitlines()}
            missing = [ln for ln in lines if ln not in have]
            if missing:
                text = old + ("" if not old or old.endswith("\n") else "\n") + "\n".join(missing) + "\n"
                note = _write_public(sftp, VOMSES_DIR, text.encode(), now)
                written.append(note)
            vomses_path = VOMSES_DIR
        else:
            _mkdirs(sftp, VOMSES_DIR)
            vomses_path = f"{VOMSES_DIR}/{vo}"
            note = _write_public(sftp, vomses_path, ("\n".join(lines) + "\n").encode(), now)
            if note:
                written.append(note)
        _mkdirs(sftp, f"{VOMSDIR}/{vo}")
        for host in hosts:
            dns = trust.lsc.get(host)
            if not dns:
                raise VerifyError(
                    f"no LSC (server DN and CA DN) for {host}, the VOMS server of VO {vo}.",
                    f'Add it to the configuration: [vos.{vo}] lsc = {{ "{host}" = ["/server DN", '
                    '"/CA DN"] }.',
                    exit_code=Exit.CONFIG,
                )
            note = _write_public(sftp, f"{VOMSDIR}/{vo}/{host}.lsc", ("\n".join(dns) + "\n").encode(), now)
            if note:
                written.append(note)
    except OSError as e:
        raise SSHError(
            f"cannot write the vomses/LSC files on {conn.target.display}: {e.strerror or e}.",
            "Check your home directory there (space, permissions), then run again.",
            exit_code=Exit.REMOTE,
        ) from None
    return vomses_path, written


# -- voms-proxy-init ---------------------------------------------------------------------------------------

_HINTS = [
    (
        "User unknown to this VO",
        "The VO does not know this certificate yet: wait for the administrators' approval "
        "(or check that you registered this very certificate).",
    ),
    ("Cannot verify AC signature", "The LSC file does not match the VOMS server: check [vos.<vo>].lsc."),
    ("LSC", "The LSC file does not match the VOMS server: check [vos.<vo>].lsc."),
    (
        "wrong pass phrase",
        "The key on the submit host does not open with your passphrase: run the delivery again.",
    ),
    ("Couldn't find valid credentials", "The files in ~/.globus are unreadable or have the wrong modes."),
    (
        "unable to access trusted certificates",
        "The submit host lacks trust anchors: set submit_host.x509_cert_dir "
        "or ask its administrators for the IGTF bundle.",
    ),
    (
        "certificate verify failed",
        "The submit host does not trust the VOMS server's CA: install the IGTF bundle "
        "there or set submit_host.x509_cert_dir.",
    ),
    ("Cannot find file or dir", "The vomses file is missing or unreadable on the submit host."),
    (
        "None of the contacted servers",
        "The VOMS server did not answer with attributes: see the message above.",
    ),
]


def parse_fqans(output: str) -> list[str]:
    fqans = []
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "attribute" and value.strip().startswith("/"):
            fqans.append(value.strip())
    return fqans


def run_voms_proxy(
    conn: Connection, vo: str, passphrase: str, vomses_path: str, cert_dir: str, vomsdir: str = VOMSDIR
) -> tuple[bool, list[str], str]:
    """voms-proxy-init with `vomses_path` and `vomsdir`; both empty: the host's own configuration."""
    try:
        script = scripts.voms_proxy(vo, vomses_path, vomsdir, cert_dir)
    except ValueError:
        raise VerifyError(
            f"the path {cert_dir!r} has characters onboard will not put into a remote command.",
            "Give submit_host.x509_cert_dir as a plain absolute path.",
            exit_code=Exit.CONFIG,
        ) from None
    res = conn.run("/bin/sh -c '" + script + "'", stdin=(passphrase + "\n").encode(), timeout=180)
    out = res.out
    status = scripts.parse(out)
    fqans = parse_fqans(out)
    ok = status.get("init_status") == "0" and any(f == f"/{vo}" or f.startswith(f"/{vo}/") for f in fqans)
    return ok, fqans, out


def explain_failure(vo: str, output: str) -> tuple[str, str]:
    lapse = lapse_messages.find(output)
    if lapse is not None:  # the second year: a membership suspended, ended or waiting for the AUP
        said = lapse_messages.reason_line(output)
        return f"{lapse.title}" + (f" ({said})" if said else ""), f"{lapse.todo} Whom to ask: {lapse.whom}."
    lines = [
        ln.strip()
        for ln in output.splitlines()
        if ln.strip()
        and not ln.startswith(("init_status=", "info_status=", "result="))
        and set(ln.strip()) - set(".")
    ]
    interesting = [ln for ln in lines if any(k.lower() in ln.lower() for k, _ in _HINTS)]
    first = (interesting or lines or ["no output"])[0]
    hint = next(
        (h for k, h in _HINTS if k.lower() in first.lower()),
        f"Run voms-proxy-init -voms {vo} -debug on the submit host to see more.",
    )
    return first, hint.replace("<vo>", vo)


def _signed_by(conn: Connection, output: str, vo: str, used: list[tuple[str, list[str]]]) -> str:
    said = ac_issuer.explain(conn, output, vo, used)
    return f" ({said})" if said else ""


def _hosts(trust: VOTrust, vo: str) -> set[str]:
    parsed = (_parse_vomses(line) for line in trust.vomses if line.strip())
    return {host for host, line_vo in parsed if line_vo == vo}


def verify(
    conn: Connection,
    vo: str,
    passphrase: str,
    *,
    trust: VOTrust | None,
    cert_dir: str = "",
    expect_cert_sha256: str = "",
    now: datetime,
) -> Verification:
    result = Verification(host=conn.target.display)
    probe = scripts.parse(conn.run(scripts.command(scripts.PROBE_VOMS)).out)
    uid = int(probe["uid"]) if probe.get("uid", "").isdigit() else None
    result.checks = check_files(conn, passphrase, uid, expect_cert_sha256)
    if not result.files_ok:
        bad = next(c for c in result.checks if not c.ok)
        raise VerifyError(
            f"on {result.host}: {bad.name}: {bad.detail}.",
            "Run `onboard resume`: the verify step delivers again what is not right there "
            "(other files are kept as backups).",
        )
    if not probe.get("voms_proxy_init"):
        result.voms = "voms-proxy-init is not installed on the submit host"
        return result
    cert_dir = cert_dir or probe.get("cert_dir", "")
    # the host's own files first (sites keep them current): onboard installs its own only where they
    # lack the VO, or where they fail and onboard's checked values work
    host = host_voms.read(conn.sftp, vo, probe)
    host_failure = ""
    if host.covers:
        result.disagreements = host_voms.disagreements(trust, host)
        ok, result.fqans, result.output = run_voms_proxy(conn, vo, passphrase, "", cert_dir, vomsdir="")
        if ok:
            result.voms, result.trust_from = "ok", "host"
            return result
        host_failure = explain_failure(vo, result.output)[0]
        host_used = [(path, dns) for path, dns in host.lsc.values()]
        if ac_issuer.is_mismatch(host_failure):
            host_failure += _signed_by(conn, result.output, vo, host_used)
    if trust is None or not trust.vomses:
        if host_failure:
            hint = explain_failure(vo, result.output)[1]
            raise VerifyError(
                f"voms-proxy-init -voms {vo} failed on {result.host} with its own files: {host_failure}",
                hint,
                exit_code=Exit.LAPSED if lapse_messages.find(result.output) else None,
            )
        raise VerifyError(
            f"onboard does not know where the VOMS server of VO {vo} is (no vomses line).",
            f"Add [vos.{vo}] vomses = [...] and lsc = {{...}} to the configuration (see `onboard vos`).",
            exit_code=Exit.CONFIG,
        )
    vomses_path, result.installed = install_vo_trust(conn, vo, trust, probe.get("glite_vomses", "none"), now)
    ok, result.fqans, result.output = run_voms_proxy(conn, vo, passphrase, vomses_path, cert_dir)
    if not ok:
        first, hint = explain_failure(vo, result.output)
        if ac_issuer.is_mismatch(first):
            hosts = _hosts(trust, vo)
            ours = [(f"~/{VOMSDIR}/{vo}/{h}.lsc", dns) for h, dns in trust.lsc.items() if h in hosts]
            first += _signed_by(conn, result.output, vo, ours)
        if host_failure:
            first += f" (with the host's own files too: {host_failure})"
        lapsed = lapse_messages.find(result.output) is not None
        raise VerifyError(f"voms-proxy-init -voms {vo} failed on {result.host}: {first}", hint,
                          exit_code=Exit.LAPSED if lapsed else None)
    result.voms, result.trust_from = "ok", "onboard"
    if host_failure:  # the host's files failed where onboard's checked ones work: they are stale
        result.stale = host_voms.stale_files(host, result.disagreements)
    return result
