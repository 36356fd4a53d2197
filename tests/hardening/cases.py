"""The corpus: every hostile or broken input with the exit code and message it must get.

A case's `build(kit, world)` prepares files (and servers) and returns the CLI's argv and stdin. `check`, when
set, replaces the "nothing changed" check for the few inputs that must *work* (paths with spaces, an
existing ~/.globus on the submit host, a host without openssl, mails in HTML or quoted-printable).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from onboard.errors import Exit
from tests.lib.pki import NOW, PASSPHRASE, new_key
from tests.lib.tarballs import bomb, write_bundle

from .servers import HostileServer, server_context
from .world import World, write_secret

CORPUS = Path(__file__).resolve().parent / "corpus"
VO = "sandbox"


@dataclass
class Kit:
    """Session-wide material (test PKIs, SSH keys) and this test's cleanups."""

    pki: Any  # tests.lib.pki.PKI: PKCS#12 files made by the real openssl
    ca: Any  # tests.lib.pki.CA: the registration server's and the user's CA
    other_ca: Any  # a CA nobody trusts
    trust: Path
    client_key: Path
    host_keys: Path
    tmp: Path
    stack: contextlib.ExitStack
    shared: dict[str, Any]  # session-wide, started on first use (the sandbox registration server)
    secret: str = PASSPHRASE
    cache: dict[str, Any] = field(default_factory=dict)

    def jose(self):
        if "jose" not in self.cache:
            self.cache["jose"] = self.pki.user("José Pérez")
        return self.cache["jose"]


@dataclass
class Case:
    id: str
    build: Callable[[Kit, World], tuple[list[str], str | None]]
    code: int
    message: str | tuple[str, ...]
    check: Callable[[Kit, World, Any], None] | None = None


# -- credentials: `onboard convert` over an earlier ~/.globus that must survive --------------------------


def _earlier_globus(w: World) -> None:
    w.globus.mkdir(mode=0o700, exist_ok=True)
    (w.globus / "usercert.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nearlier\n-----END CERTIFICATE-----\n"
    )
    write_secret(w.globus / "userkey.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nearlier")


def _pw(w: World, text: str = PASSPHRASE) -> Path:
    return write_secret(w.tmp / "passphrase", text)


def convert_case(make: Callable[[Kit, World], Path], *, pw: str = PASSPHRASE, where: str = "in"):
    def build(kit: Kit, w: World):
        _earlier_globus(w)
        w.extra_env["X509_CERT_DIR"] = str(kit.pki.trust)
        src = make(kit, w)
        return ["convert", str(src), "--passphrase-file", str(_pw(w, pw)), "--name-format", "cn"], None

    return build


def _good_p12(kit: Kit, name: str = "good.p12") -> bytes:
    p = kit.pki.dir / name
    if not p.exists():
        kit.pki.p12(kit.jose(), name)
    return p.read_bytes()


def _put(w: World, data: bytes, name: str = "Certificate.p12", sub: str = "in") -> Path:
    d = w.tmp / sub
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return d / name


def _p12_of(kit: Kit, w: World, user, name: str, **kw) -> Path:
    return _put(w, kit.pki.p12(user, name, **kw).read_bytes(), name)


def _flip(data: bytes, at: int, n: int = 16) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + n]) + data[at + n :]


def _mismatched(kit: Kit, w: World) -> Path:
    user = kit.jose()
    # cryptography will not pair a key with a certificate it does not match: the certificate goes in the bag
    data = pkcs12.serialize_key_and_certificates(
        b"mismatch", new_key(), None, [user.cert, kit.pki.int2.cert, kit.pki.int1.cert],
        serialization.BestAvailableEncryption(PASSPHRASE.encode()))
    return _put(w, data, "mismatch.p12")


def _cached_user(kit: Kit, tag: str, **kw):
    if tag not in kit.cache:
        kit.cache[tag] = kit.pki.user("José Pérez", **kw)
    return kit.cache[tag]


CREDENTIALS = [
    Case("p12-truncated", convert_case(lambda k, w: _put(w, _good_p12(k)[:700])), Exit.NOT_PKCS12,
        "cut short"),
    Case("p12-truncated-to-nothing", convert_case(lambda k, w: _put(w, b"")), Exit.NOT_PKCS12, "empty"),
    Case("p12-corrupted-header", convert_case(lambda k, w: _put(w, _flip(_good_p12(k), 0, 4))),
         Exit.NOT_PKCS12, "not a PKCS#12"),
    # inside the encrypted part: indistinguishable from a wrong passphrase (the MAC fails); the message
    # says both
    Case("p12-corrupted-body", convert_case(lambda k, w: _put(w, _flip(_good_p12(k),
        len(_good_p12(k)) // 2))),
         Exit.WRONG_PASSPHRASE, "damaged"),
    Case("p12-is-a-web-page", convert_case(lambda k, w: _put(w,
        (CORPUS / "download-page.html").read_bytes())),
         Exit.NOT_PKCS12, "web page"),
    Case("p12-wrong-password", convert_case(lambda k, w: _put(w, _good_p12(k)), pw="not the passphrase"),
         Exit.WRONG_PASSPHRASE, "wrong passphrase"),
    Case("p12-empty-password-file", convert_case(lambda k, w: _put(w, _good_p12(k)), pw=""),
         Exit.USAGE, "is empty"),
    Case("p12-without-key", convert_case(lambda k, w: _p12_of(k, w, k.jose(), "nokey.p12", nokeys=True)),
         Exit.NO_PRIVATE_KEY, "no private key"),
    Case("p12-two-end-entities",
         convert_case(lambda k, w: _p12_of(k, w, k.jose(), "two.p12", extra=[_cached_user(k, "other")])),
         Exit.END_ENTITY, "2 personal certificates"),
    Case("p12-no-end-entity", convert_case(lambda k, w: _p12_of(k, w, k.pki.int2, "ca.p12", chain=False)),
         Exit.END_ENTITY, "no personal"),
    Case("p12-mismatched-key", convert_case(_mismatched), Exit.KEY_MISMATCH,
         ("does not belong", "CN=José Pérez")),
    Case("p12-expired", convert_case(lambda k, w: _p12_of(k, w, _cached_user(
        k, "expired", not_before=NOW - dt.timedelta(days=400), days=395), "expired.p12")), Exit.VALIDITY,
            "expired"),
    Case("p12-not-yet-valid", convert_case(lambda k, w: _p12_of(k, w, _cached_user(
        k, "future", not_before=NOW + dt.timedelta(days=3)), "future.p12")), Exit.VALIDITY, "not valid yet"),
    Case("p12-1024-bit-key", convert_case(lambda k, w: _p12_of(k, w, _cached_user(
        k, "weak", key=new_key(1024)), "weak.p12")), Exit.WEAK_KEY, "1024 bits"),
    Case("p12-server-certificate", convert_case(lambda k, w: _p12_of(k, w, _cached_user(
        k, "server", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)), "server.p12")), Exit.NOT_CLIENT_AUTH,
        "client authentication"),
    Case("p12-in-path-with-spaces-and-non-ascii-wrong-password",
         convert_case(lambda k, w: _put(w, _good_p12(k), "Zertifikat für José.p12", "Téléchargements ünd so"),
                      pw="wrong one"),
         Exit.WRONG_PASSPHRASE, "wrong passphrase"),
    Case("p12-missing", convert_case(lambda k, w: w.tmp / "Downloads" / "Certificate.p12"),
         Exit.CREDENTIAL, "no such file"),
    Case("p12-is-a-directory", convert_case(lambda k, w: (w.tmp / "adir.p12").mkdir() or w.tmp / "adir.p12"),
         Exit.CREDENTIAL, "adir.p12"),
]


def _converted_into_odd_path(kit: Kit, w: World, r) -> None:
    dest = w.tmp / "Données de José" / "grid certs"
    assert (dest / "usercert.pem").exists() and (dest / "userkey.pem").exists()
    assert (dest / "userkey.pem").stat().st_mode & 0o077 == 0


def _convert_odd_dest(kit: Kit, w: World):
    w.extra_env["X509_CERT_DIR"] = str(kit.pki.trust)
    src = _put(w, _good_p12(kit), "Zertifikat für José.p12", "Téléchargements ünd so")
    return ["convert", str(src), "--passphrase-file", str(_pw(w)), "--name-format", "cn",
            "--dest", str(w.tmp / "Données de José" / "grid certs")], None


def _globus_kept(kit: Kit, w: World, r) -> None:
    backups = [p for p in w.globus.rglob("*") if p.is_file() and b"earlier" in p.read_bytes()]
    assert len(backups) >= 2, sorted(str(p) for p in w.globus.rglob("*"))  # the earlier cert and key, kept
    assert b"earlier" not in (w.globus / "usercert.pem").read_bytes()


CREDENTIALS += [
    Case("convert-into-path-with-spaces-and-non-ascii", _convert_odd_dest, Exit.OK, "usercert.pem",
         check=_converted_into_odd_path),
    Case("convert-over-an-existing-globus", convert_case(lambda k, w: _put(w, _good_p12(k))), Exit.OK,
         "usercert.pem", check=_globus_kept),
]


# -- configuration -------------------------------------------------------------------------------------


def config_case(name: str, *argv: str):
    def build(kit: Kit, w: World):
        cfg = w.tmp / "config.toml"
        shutil.copyfile(CORPUS / "config" / name, cfg)
        return ["--config", str(cfg), *argv], None

    return build


def _start(vo: str = VO) -> tuple[str, ...]:
    return ("start", "--vo", vo)


def _deep_config(w: World):
    cfg = w.tmp / "config.toml"
    cfg.write_text("vo = " + "[" * 50_000 + "\n")  # tomllib recurses once per level
    return ["--config", str(cfg), *_start()], None


def _writable_globus(kit: Kit, w: World) -> Path:
    os.chmod(w.globus, 0o777)  # hardening, round 2: used without a word before
    return _put(w, _good_p12(kit))


CREDENTIALS += [
    Case("globus-dir-writable-by-others", convert_case(_writable_globus), Exit.UNSAFE_PATH,
         "group or others"),
]

CONFIG = [
    Case("config-bad-toml", config_case("bad-syntax.toml", *_start()), Exit.CONFIG, ("not valid TOML",
        "line 3")),
    Case("config-duplicate-key", config_case("duplicate-key.toml", *_start()), Exit.CONFIG, "not valid TOML"),
    Case("config-not-utf8", config_case("latin1.toml", *_start()), Exit.CONFIG, "UTF-8"),
    Case("config-wrong-type", config_case("wrong-type.toml", *_start()), Exit.CONFIG,
         "registration.poll_min_seconds"),
    Case("config-negative-timeout", config_case("negative-timeout.toml", *_start()), Exit.CONFIG,
         "registration.timeout_seconds"),
    Case("config-unknown-key", config_case("unknown-key.toml", *_start()), Exit.CONFIG,
        "'user.emial': no such key"),
    Case("config-bad-email", config_case("bad-email.toml", *_start()), Exit.CONFIG, "user.email"),
    Case("config-unknown-mail-kind", config_case("pop3.toml", *_start()), Exit.CONFIG, "mail.kind"),
    Case("config-port-out-of-range", config_case("port-70000.toml", *_start()), Exit.CONFIG,
        "submit_host.port"),
    Case("config-plain-http-registration-url", config_case("http-url.toml", *_start()), Exit.CONFIG,
         ("vos.sandbox.url", "https://")),
    Case("config-nested-past-the-stack", lambda k, w: _deep_config(w), Exit.CONFIG,
         ("not valid TOML", "nested too deep")),
    Case("config-bad-vomses-line", config_case("unbalanced-vomses.toml", *_start()), Exit.CONFIG,
         ("vos.sandbox.vomses", "double quotes")),
    Case("config-missing-file", lambda k, w: (["--config", str(w.tmp / "nope.toml"), *_start()], None),
         Exit.CONFIG, "no such configuration file"),
    Case("config-is-a-directory", lambda k, w: (["--config", str(w.tmp), *_start()], None), Exit.CONFIG,
         "cannot be read"),
    Case("unknown-vo", config_case("good.toml", *_start("cmss")), Exit.UNKNOWN_VO, ("unknown VO 'cmss'",
        "onboard vos")),
    Case("vo-name-with-path", config_case("good.toml", *_start("../etc")), Exit.USAGE, "not a valid VO name"),
]


# -- a journey already under way: state written as onboard writes it -------------------------------------


def _user_credential(kit: Kit, w: World) -> dict[str, Path]:
    """The converted credential in ~/.globus (as the convert step leaves it), encrypted key 0600."""
    if "user" not in kit.cache:
        kit.cache["user"] = kit.ca.user("Jane Doe")
    user = kit.cache["user"]
    w.globus.mkdir(mode=0o700, exist_ok=True)
    cert, key, chain = w.globus / "usercert.pem", w.globus / "userkey.pem", w.globus / "chain.pem"
    cert.write_bytes(user.pem())
    chain.write_bytes(kit.ca.cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(user.key_pem(PASSPHRASE))
    return {"cert": cert, "key": key, "chain": chain}


def _journey(w: World, state: list[str] | str, **artifacts: Any) -> None:
    from onboard.state import JourneyRecord, Wait
    from onboard.store import Store

    rec = JourneyRecord(vo=VO, workflow="voms-admin", state=state)
    for k, v in artifacts.items():
        setattr(rec.artifacts, k, v)
    if isinstance(state, list) and "enrol/vo/await_approval" in state:  # not due: only the host moves
        now = dt.datetime.now(dt.timezone.utc)
        rec.waits["await_approval"] = Wait(what="approval", since=now,
            next_check_after=now + dt.timedelta(days=1))
    Store(w.state_dir).save(rec)
    w.journey = True


def _reg_config(kit: Kit, w: World, url: str, *, mail: str = 'kind = "none"', extra: str = "") -> Path:
    cfg = w.tmp / "config.toml"
    cfg.write_text((CORPUS / "config" / "journey.toml.in").read_text().format(
        vo=VO, url=url, trust=kit.trust, mail=mail, extra=extra))
    return cfg


def registration_case(behaviour: str, *, issuer: str = "ca", host: str = "localhost", tls: bool = True,
                      closed: bool = False):
    def build(kit: Kit, w: World):
        if closed:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        else:
            ctx = server_context(getattr(kit, issuer), host, kit.tmp / f"tls-{issuer}",
                kit.trust) if tls else None
            srv = HostileServer(behaviour, ctx).start()
            kit.stack.callback(srv.stop)
            port = srv.port
        cfg = _reg_config(kit, w, f"https://localhost:{port}/voms/{VO}")
        _journey(w, ["enrol/vo/register", "enrol/host/delivered"], **_user_credential(kit, w))
        pw = write_secret(w.tmp / "pw", PASSPHRASE)
        return ["--config", str(cfg), "resume", "--vo", VO, "--passphrase-file", str(pw)], None

    return build


REGISTRATION = [
    Case("server-html-error-page", registration_case("html_error"), Exit.SERVER, "Error report"),
    Case("server-500", registration_case("500"), Exit.SERVER, "500"),
    Case("server-503-maintenance", registration_case("503"), Exit.SERVER, "503"),
    Case("server-404", registration_case("404"), Exit.SERVER, "404"),
    Case("server-timeout", registration_case("hang"), Exit.NETWORK, "did not answer"),
    Case("server-redirect-to-another-host", registration_case("redirect"), Exit.SERVER, ("127.0.0.2",
        "not followed")),
    Case("server-certificate-from-unknown-ca", registration_case("ok", issuer="other_ca"), Exit.TLS,
         "certificate"),
    Case("server-certificate-for-another-host", registration_case("ok", host="voms.example.org"), Exit.TLS,
         "localhost"),
    Case("server-speaks-plain-http", registration_case("ok", tls=False), Exit.TLS, "TLS"),
    Case("server-refuses-connections", registration_case("ok", closed=True), Exit.NETWORK,
         "cannot reach localhost: Connection refused (errno 111)."),
]


# -- mails and links ----------------------------------------------------------------------------------------


def _confirm_state(kit: Kit, w: World, port: int = 8443) -> Path:
    url = f"https://localhost:{port}/voms/{VO}"
    cfg = _reg_config(kit, w, url, mail=f'kind = "maildir"\nmaildir = "{w.tmp / "Mail"}"')
    _journey(w, ["enrol/vo/confirm_email", "enrol/host/delivered"], registration_url=url, request_id="17",
             **_user_credential(kit, w))
    for sub in ("new", "cur", "tmp"):
        (w.tmp / "Mail" / sub).mkdir(parents=True, exist_ok=True)
    return cfg


REQ = "/voms/sandbox/register/confirm.action?requestId=17&confirmationId=4c1f9a3e-8a5b-4c3e-9d2f-0e1a2b3c4d5e"


def link_case(url: str):
    def build(kit: Kit, w: World):
        cfg = _confirm_state(kit, w)
        pw = write_secret(w.tmp / "pw", PASSPHRASE)
        return ["--config", str(cfg), "confirm", url, "--vo", VO, "--passphrase-file", str(pw)], None

    return build


def _sandbox(kit: Kit):
    if "sandbox" not in kit.shared:
        from tests.lib.regkit import start_registration_servers

        kit.shared["sandbox"] = start_registration_servers(kit.tmp / "sandbox")
    return kit.shared["sandbox"]


def mail_case(name: str, *, valid: bool = False):
    """A real pending request at the sandbox's VOMS-Admin, and a mail in the user's Maildir."""

    def build(kit: Kit, w: World):
        from onboard.registration.links import extract_links
        from tests.lib.clock import Clock
        from tests.lib.regkit import issue_user, make_config, make_journey

        sb = _sandbox(kit)
        cred = issue_user(sb, w.tmp / "cred")
        w.watch.append(w.tmp / "cred")
        clock = Clock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))  # the first check is due
        j = make_journey(w.tmp, make_config(sb, mail={"kind": "none"}), cred, clock, "voms-admin")
        j.run()  # registered; waits for the mail
        j.record.state = ["enrol/vo/confirm_email", "enrol/host/delivered"]  # in the real workflow's terms
        j.store.save(j.record)
        w.journey = True
        newest = max((sb.maildir() / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)  # this request's
        msg = email.message_from_bytes(newest.read_bytes())
        link = next(u for u in extract_links(msg) if "confirm-request.action" in u)
        path = link.split("/", 3)[3]
        box = w.tmp / "Mail"
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        text = (CORPUS / "mail" / name).read_bytes().replace(b"{REQ}", b"/" + path.encode())
        if valid:
            host = link.split("/")[2].encode()
            text = text.replace(b"{HOST}", host).replace(b"{HOST_QP}", host.replace(b":", b":=\n"))
            text = text.replace(b"{REQ_QP}", b"/" + path.replace("=", "=3D").encode())
        # the headers of the sandbox's own mail (sender, subject, a date after the registration)
        for h in ("From", "Subject", "Date"):
            text = re.sub(rb"(?m)^" + h.encode() + rb": .*$", f"{h}: {msg[h]}".encode(), text, count=1)
        (box / "new" / f"1700000000.{name}.host").write_bytes(text)
        cfg = w.tmp / "config.toml"
        cfg.write_text((CORPUS / "config" / "journey.toml.in").read_text().format(
            vo=VO, url=sb.voms_admin_url(), trust=sb.trust_dir, mail=f'kind = "maildir"\nmaildir = "{box}"',
            extra=""))
        return ["--config", str(cfg), "resume", "--vo", VO, "--passphrase-file",
            str(cred.passphrase_file)], None

    return build


def _confirmed(kit: Kit, w: World, r) -> None:
    state = json.loads((w.state_dir / f"{VO}.json").read_text())
    assert "enrol/vo/await_approval" in state["state"], state["state"]
    assert state["artifacts"]["extra"].get("registration") == "confirmed", state["artifacts"]["extra"]


GOOD_PATH = REQ.replace("confirm.action", "confirm-request.action")

MAIL = [
    # hardening, round 2: `$` let a newline through, `\d` full-width digits
    Case("link-id-with-a-newline", link_case(f"https://localhost:8443{GOOD_PATH}%0A"), Exit.UNSAFE_LINK,
         "confirmationId is malformed"),
    Case("link-id-in-full-width-digits", link_case(
        f"https://localhost:8443{GOOD_PATH.replace('requestId=17', 'requestId=%EF%BC%91%EF%BC%97')}"),
         Exit.UNSAFE_LINK, "requestId is malformed"),
    Case("link-to-another-host", link_case(f"https://evil.example.net{REQ}"), Exit.UNSAFE_LINK,
        "evil.example.net"),
    Case("link-look-alike-host", link_case(f"https://Iocalhost:8443{REQ}"), Exit.UNSAFE_LINK, "looks like"),
    Case("link-idn-homoglyph", link_case(f"https://locаlhost:8443{REQ}"), Exit.UNSAFE_LINK, "non-ASCII"),
    Case("link-userinfo-trick", link_case(f"https://localhost:8443@evil.example.net{REQ}"), Exit.UNSAFE_LINK,
         "user name"),
    Case("link-plain-http", link_case(f"http://localhost:8443{REQ}"), Exit.UNSAFE_LINK, "not https"),
    Case("link-other-vo", link_case(f"https://localhost:8443{REQ.replace('/sandbox/', '/atlas/')}"),
         Exit.UNSAFE_LINK, "not under"),
    Case("mail-link-to-another-host", mail_case("other-host.eml"), Exit.WAITING, "suspicious link"),
    Case("mail-look-alike-host", mail_case("look-alike.eml"), Exit.WAITING, "suspicious link"),
    Case("mail-without-link", mail_case("no-link.eml"), Exit.WAITING, "confirmation mail"),
    Case("mail-html-only-other-host", mail_case("html-only.eml"), Exit.WAITING, "suspicious link"),
    Case("mail-quoted-printable-other-host", mail_case("quoted-printable.eml"), Exit.WAITING,
        "suspicious link"),
    Case("mail-html-only", mail_case("html-only-valid.eml", valid=True), Exit.WAITING, "approv",
        check=_confirmed),
    Case("mail-quoted-printable", mail_case("quoted-printable-valid.eml", valid=True), Exit.WAITING, "approv",
         check=_confirmed),
]


# -- the submit host --------------------------------------------------------------------------------------


def ssh_case(*, known: str = "right", path_env: Callable[[Kit], str] | None = None, full_disk: bool = False,
             existing_globus: bool = False, authorized: bool = True, odd_paths: bool = False):
    def build(kit: Kit, w: World):
        from tests.lib.servers.sshd import SSHD, TEST_USER, user_home, write_user_file

        home = kit.stack.enter_context(user_home(authorized_key=kit.client_key if authorized else None))
        if full_disk:
            _tiny_home(kit, home)
        kw = {"path_env": path_env(kit)} if path_env else {}
        if odd_paths:  # onboard's own directories with spaces and non-ASCII letters
            w.env["ONBOARD_DATA_DIR"] = str(w.tmp / "Données de José" / "ünd so")
            w.env["ONBOARD_STATE_DIR"] = str(w.tmp / "état du voyage")
        sshd = SSHD(w.tmp / "sshd", kit.host_keys, **kw).start()
        kit.stack.callback(sshd.stop)
        if existing_globus:
            write_user_file(home, ".globus/usercert.pem", b"old certificate\n", 0o644)
            write_user_file(home, ".globus/userkey.pem", b"old key\n", 0o400)
        kh = w.tmp / "known_hosts"
        if known == "right":
            kh.write_text(sshd.known_hosts_line())
        elif known == "changed":
            kh.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 "
                          "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
        else:
            kh.write_text("")
        cfg = _reg_config(kit, w, f"https://localhost:1/voms/{VO}", extra=f"""
[submit_host]
host = "127.0.0.1"
user = "{TEST_USER}"
port = {sshd.port}
identity_file = "{kit.client_key}"
known_hosts = "{kh}"
""")
        package = w.data_dir / "package-Jane_Doe.p12"
        w.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(package, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(_package(kit))
        _journey(w, ["enrol/vo/await_approval", "enrol/host/deliver"], package=package)
        w.remote = home
        pw = write_secret(w.tmp / "pw", PASSPHRASE)
        return ["--config", str(cfg), "resume", "--vo", VO, "--passphrase-file", str(pw)], None

    return build


def _package(kit: Kit) -> bytes:
    if "user" not in kit.cache:
        kit.cache["user"] = kit.ca.user("Jane Doe")
    return kit.cache["user"].p12(PASSPHRASE)


def _tiny_home(kit: Kit, home: Path) -> None:
    """The submit host's home on a 64 KiB tmpfs, filled up but for a few bytes."""
    import pwd

    from tests.lib.servers.sshd import TEST_USER

    pw = pwd.getpwnam(TEST_USER)
    keep = kit.tmp / "home-ssh"
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(home / ".ssh", keep)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=64k,mode=0750,uid={pw.pw_uid},gid={pw.pw_gid}",
                    "onboard-full", str(home)], check=True)
    kit.stack.callback(lambda: subprocess.run(["umount", "-l", str(home)], check=False))
    shutil.copytree(keep, home / ".ssh")
    for p in [home / ".ssh", *(home / ".ssh").iterdir()]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
    with open(home / ".filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 1024)
    os.chown(home / ".filler", pw.pw_uid, pw.pw_gid)


def _delivered(kit: Kit, w: World, r) -> None:
    assert w.remote is not None
    g = w.remote / ".globus"
    assert (g / "usercert.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (g / "userkey.pem").stat().st_mode & 0o077 == 0
    state = json.loads((w.state_dir / f"{VO}.json").read_text())
    assert "enrol/host/delivered" in state["state"], state["state"]


def _old_globus_kept(kit: Kit, w: World, r) -> None:
    _delivered(kit, w, r)
    assert w.remote is not None
    kept = {p.read_bytes() for p in w.remote.rglob("*") if p.is_file()}
    assert b"old certificate\n" in kept and b"old key\n" in kept


def _no_openssl_path(kit: Kit) -> str:
    d = Path("/var/tmp/onboard-hardening-no-openssl")
    if not d.exists():
        d.mkdir(mode=0o755)
        for entry in os.scandir("/usr/bin"):
            if entry.name != "openssl":
                (d / entry.name).symlink_to(entry.path)
    return str(d)


SSH = [
    Case("ssh-host-key-changed", ssh_case(known="changed"), Exit.HOST_KEY_CHANGED, "CHANGED"),
    Case("ssh-host-key-unknown", ssh_case(known="none"), Exit.HOST_KEY_UNKNOWN, "--trust-host-key"),
    Case("ssh-key-not-authorized", ssh_case(authorized=False), Exit.SSH_AUTH, "127.0.0.1"),
    Case("ssh-full-disk", ssh_case(full_disk=True), Exit.REMOTE, ("full disk", "free space")),
    Case("ssh-existing-globus", ssh_case(existing_globus=True), Exit.WAITING, "approval",
         check=_old_globus_kept),
    Case("ssh-host-without-openssl", ssh_case(path_env=_no_openssl_path), Exit.WAITING, "no usable openssl",
         check=_delivered),
    Case("ssh-from-paths-with-spaces-and-non-ascii", ssh_case(odd_paths=True), Exit.WAITING, "approval",
         check=_delivered),
]


# -- the state file -----------------------------------------------------------------------------------------


def state_case(mutate: Callable[[dict[str, Any], Path], None]):
    def build(kit: Kit, w: World):
        from onboard.state import JourneyRecord
        from onboard.store import Store

        st = Store(w.state_dir)
        st.save(JourneyRecord(vo=VO, workflow="voms-admin", state="obtain"))
        w.journey = True
        p = w.state_dir / f"{VO}.json"
        mutate(json.loads(p.read_text()), p)
        cfg = w.tmp / "config.toml"
        shutil.copyfile(CORPUS / "config" / "good.toml", cfg)
        return ["--config", str(cfg), "resume", "--vo", VO], None

    return build


def _write(data: Any, p: Path) -> None:
    p.write_text(json.dumps(data))


STATE = [
    Case("state-from-the-future", state_case(lambda d, p: _write({**d, "schema_version": 99}, p)), Exit.STATE,
         ("schema 99", "Upgrade onboard")),
    Case("state-corrupted", state_case(lambda d, p: p.write_bytes(p.read_bytes()[:40])), Exit.STATE,
        "corrupt"),
    Case("state-binary-garbage", state_case(lambda d, p: p.write_bytes(os.urandom(64))), Exit.STATE,
        "corrupt"),
    Case("state-not-an-object", state_case(lambda d, p: _write([1, 2, 3], p)), Exit.STATE, "corrupt"),
    Case("state-unknown-step", state_case(lambda d, p: _write({**d, "state": "teleport"}, p)), Exit.WORKFLOW,
         "teleport"),
]
def _planted(name: str):
    def mutate(d: dict[str, Any], p: Path) -> None:
        victim = p.parent.parent / "victim.txt"
        victim.write_text("precious\n")
        (p.parent / name).unlink(missing_ok=True)
        (p.parent / name).symlink_to(victim)

    return mutate


STATE += [
    # hardening, round 2: links planted in the state directory were followed, unsafe directories used
    Case("state-lock-is-a-planted-link", state_case(_planted(f"{VO}.lock")), Exit.UNSAFE_PATH,
         "symbolic link"),
    Case("state-history-is-a-planted-link", state_case(_planted(f"{VO}.history.jsonl")), Exit.UNSAFE_PATH,
         "symbolic link"),
    Case("state-dir-writable-by-others", state_case(lambda d, p: os.chmod(p.parent, 0o777)),
         Exit.UNSAFE_PATH, "group or others"),
]
STATE_STATUS = [
    Case("status-state-from-the-future", lambda k, w: (state_case(
        lambda d, p: _write({**d, "schema_version": 99}, p))(k, w)[0][:2] + ["status", "--vo", VO], None),
        Exit.STATE, "schema 99"),
]

# -- trust anchors: `onboard trust --install` of a hostile tarball --------------------------------------


def trust_case(make: Callable[[Path], Path]):
    def build(kit: Kit, w: World):
        return ["trust", "--install", str(make(w.tmp))], None

    return build


def _tarball(tmp: Path, files: dict[str, bytes], links: dict[str, str]) -> Path:
    return write_bundle(tmp / "bundle.tar.gz", files, links)


def _bomb(tmp: Path) -> Path:
    return bomb(tmp / "bomb.tgz", 1 << 30)


TRUST = [
    # hardening, round 2: a bomb inflated in memory, a link loop gave KeyError, a name twice FileExistsError
    Case("trust-tarball-bomb", trust_case(_bomb), Exit.TRUST, "inflates to more than"),
    Case("trust-tarball-link-loop",
         trust_case(lambda t: _tarball(t, {}, {"a.pem": "b.pem", "b.pem": "a.pem"})), Exit.TRUST, "circle"),
    Case("trust-tarball-file-and-link-of-one-name",
         trust_case(lambda t: _tarball(t, {"x.pem": b"-----BEGIN CERTIFICATE-----\n"}, {"x.pem": "y.pem"})),
         Exit.TRUST, "appears twice"),
]

CASES: list[Case] = CREDENTIALS + CONFIG + REGISTRATION + MAIL + SSH + STATE + STATE_STATUS + TRUST
