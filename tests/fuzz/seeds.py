"""Seed corpora for the fuzz targets, made from real material each time (nothing hand-crafted to pass).

- pkcs12: files made by `openssl pkcs12 -export` in the modern form (PBES2/AES-256, SHA-256 MAC), the
  legacy form (-legacy: RC2-40 + 3DES, SHA-1 MAC), the 3DES form onboard writes itself, with an EC key,
  without a key, and under another passphrase;
- pem: certificate (+ chain) and key in one file, the key encrypted (PKCS#8 AES-256 by openssl) or not;
- mail: the VOMS-Admin mails of reference/registration.md §1.7 (confirmation, approval, rejection,
  expiry), as plain text, HTML only, quoted-printable and multipart, and a phishing variant;
- page: the sandbox's own VOMS-Admin pages (form, waits-confirmation, limbo, disabled, errors) as HTTP
  answers, plus the member redirect and server errors;
- config: config.example.toml and small configurations with ONBOARD_* environment overrides.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

from .targets import ENV_MARK, PASSPHRASE

ROOT = Path(__file__).resolve().parents[2]
UUID = "3f2a8c1e-9b7d-4e6f-a1c2-5d8e9f0a1b2c"
CONFIRM = f"https://voms.example.org:8443/voms/cms/register/confirm-request.action?requestId=17&confirmationId={UUID}"
CANCEL = f"https://voms.example.org:8443/voms/cms/register/cancel-request.action?requestId=17&confirmationId={UUID}"


def write(root: Path) -> dict[str, Path]:
    """Seed directories, one per target, under root (made fresh)."""
    dirs = {}
    for name, make in (
        ("pkcs12", None),
        ("pem", None),
        ("mail", mail_seeds),
        ("page", page_seeds),
        ("config", config_seeds),
        ("tarball", tarball_seeds),
        ("known_hosts", known_hosts_seeds),
    ):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        dirs[name] = d
        if make is not None:
            _save(d, make())
    p12, pems = credential_seeds(root / "pki")
    _save(dirs["pkcs12"], p12)
    _save(dirs["pem"], pems)
    return dirs


def _save(d: Path, items: list[bytes]) -> None:
    for data in items:
        (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


# -- credentials, by openssl --------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        ["openssl", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **(env or {})}
    )


def credential_seeds(work: Path) -> tuple[list[bytes], list[bytes]]:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is needed to make the PKCS#12 seeds")
    work.mkdir(parents=True, exist_ok=True)
    pw = {"FUZZ_PASS": PASSPHRASE, "OTHER_PASS": "not the passphrase"}
    (work / "user.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth,emailProtection\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\nsubjectAltName=email:jane@example.org\n"
    )
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "3650",
        "-subj",
        "/DC=org/DC=example/O=Fuzz Grid/CN=Fuzz CA",
        cwd=work,
    )
    for name, alg in (
        ("rsa", ["-newkey", "rsa:2048"]),
        ("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ):
        _openssl(
            "req",
            "-new",
            *alg,
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/DC=org/DC=example/O=Fuzz Grid/OU=People/CN=Jane Doe {name}",
            cwd=work,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "395",
            "-extfile",
            "user.ext",
            "-out",
            f"{name}.pem",
            cwd=work,
        )
    exports = {
        "modern": ["-inkey", "rsa.key", "-in", "rsa.pem", "-certfile", "ca.pem", "-passout", "env:FUZZ_PASS"],
        "legacy": [
            "-legacy",
            "-inkey",
            "rsa.key",
            "-in",
            "rsa.pem",
            "-certfile",
            "ca.pem",
            "-passout",
            "env:FUZZ_PASS",
        ],
        "3des": [
            "-inkey",
            "rsa.key",
            "-in",
            "rsa.pem",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
            "-name",
            "Jane Doe issued 1 Jan 2026",
            "-passout",
            "env:FUZZ_PASS",
        ],
        "ec": ["-inkey", "ec.key", "-in", "ec.pem", "-certfile", "ca.pem", "-passout", "env:FUZZ_PASS"],
        "nokey": ["-nokeys", "-in", "rsa.pem", "-certfile", "ca.pem", "-passout", "env:FUZZ_PASS"],
        "other-pass": ["-inkey", "rsa.key", "-in", "rsa.pem", "-passout", "env:OTHER_PASS"],
    }
    p12 = []
    for name, args in exports.items():
        _openssl("pkcs12", "-export", *args, "-out", f"{name}.p12", cwd=work, env=pw)
        p12.append((work / f"{name}.p12").read_bytes())
    _openssl(
        "pkey",
        "-in",
        "rsa.key",
        "-aes256",
        "-passout",
        "env:FUZZ_PASS",
        "-out",
        "rsa-enc.key",
        cwd=work,
        env=pw,
    )
    _openssl(
        "pkey",
        "-in",
        "ec.key",
        "-aes256",
        "-passout",
        "env:FUZZ_PASS",
        "-out",
        "ec-enc.key",
        cwd=work,
        env=pw,
    )
    r = {
        n: (work / n).read_bytes()
        for n in ("rsa.pem", "rsa.key", "rsa-enc.key", "ec.pem", "ec-enc.key", "ca.pem")
    }
    pems = [
        r["rsa.pem"] + r["rsa-enc.key"],
        r["rsa.pem"] + r["ca.pem"] + r["rsa-enc.key"],
        r["rsa-enc.key"] + r["rsa.pem"],
        r["rsa.pem"] + r["rsa.key"],
        r["ec.pem"] + r["ec-enc.key"],
        r["ca.pem"] + r["rsa-enc.key"],  # the CA's certificate with the user's key: a mismatch
    ]
    return p12, pems


# -- mails (reference/registration.md §1.7) ----------------------------------------------------------


def _mail(subject: str, text: str | None = None, html: str | None = None, cte: str | None = None) -> bytes:
    m = EmailMessage()
    m["From"] = "voms-admin@voms.example.org"
    m["To"] = "jane@example.org"
    m["Subject"] = subject
    m["Date"] = "Sat, 21 Nov 2026 00:10:00 +0000"
    m["Message-ID"] = "<17.1763683400@voms.example.org>"
    if text is not None:
        m.set_content(text, cte=cte) if cte else m.set_content(text)
    if html is not None:
        if text is None:
            m.set_content(html, subtype="html", cte=cte) if cte else m.set_content(html, subtype="html")
        else:
            m.add_alternative(html, subtype="html")
    return bytes(m)


def mail_seeds() -> list[bytes]:
    confirm = (
        "Dear jane@example.org, \n\nyou have requested to be a member of VO cms.\n\n"
        "In order for the registration to proceed, you should confirm this\n"
        f"request by going to the following url:\n\n{CONFIRM}\n\n"
        "In case you never requested to be a member of VO cms, please\n"
        f"let us know by going to the following url:\n\n{CANCEL}\n\n"
        "Your sincerely,\nVoms-Admin registration service for VO cms\n"
    )
    html = (
        f'<html><body><p>Dear jane@example.org,</p><p>please confirm: <a href="{CONFIRM}">{CONFIRM}</a>'
        f'</p><p>or <a href="{CANCEL}">cancel</a></p></body></html>'
    )
    phish = confirm.replace("voms.example.org:8443", "voms.example.org.login-check.net")
    iam = (
        f"Dear Jane,\n\nconfirm your e-mail address:\nhttps://iam.example.org/registration/verify/{UUID}\n\n"
        "The cms registration service"
    )
    return [
        _mail("[VOMS Admin] Your membership request for VO cms", confirm),
        _mail("[VOMS Admin] Your membership request for VO cms", confirm, cte="quoted-printable"),
        _mail("[VOMS Admin] Your membership request for VO cms", confirm, cte="base64"),
        _mail("[VOMS Admin] Your membership request for VO cms", None, html),
        _mail("[VOMS Admin] Your membership request for VO cms", confirm, html),
        _mail("[VOMS Admin] Your membership request for VO cms", phish),
        _mail(
            "[VOMS Admin] Your vo membership request for VO cms has been approved.",
            "Dear jane@example.org, \n\nyour vo membership request for VO cms\nhas been approved.\n\n"
            "Your sincerely,\nThe Voms-Admin registration service for VO cms\n",
        ),
        _mail(
            "[VOMS Admin] Your vo membership request for VO cms has been rejected.",
            "Dear jane@example.org, \n\nyour vo membership request for VO cms has been REJECTED.\n\n"
            "The reason is: not a member of the collaboration\n",
        ),
        _mail(
            "[VOMS Admin] You vo membership request has expired!",
            "Dear jane@example.org, \n\nyour membership request for VO cms has expired since you didn't "
            "confirm it in time.\n",
        ),
        _mail("[cms] Confirm your registration", iam),
        _mail("=?utf-8?q?=5BVOMS_Admin=5D_Your_membership_request_for_VO_cms?=", confirm, cte="8bit"),
    ]


# -- pages of the sandbox's VOMS-Admin ---------------------------------------------------------------


def _http(resp) -> bytes:
    reason = {200: "OK", 302: "Found", 401: "Unauthorized", 404: "Not Found", 500: "Server Error"}
    head = [f"HTTP/1.1 {resp.status} {reason.get(resp.status, 'X')}"] + [f"{k}: {v}" for k, v in resp.headers]
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + resp.body


def page_seeds() -> list[bytes]:
    from onboard.sandbox.settings import Settings
    from onboard.sandbox.voms_admin import pages as reg
    from onboard.sandbox.web import Response

    session: dict[str, str] = {}
    req = SimpleNamespace(
        app=SimpleNamespace(
            ctx=SimpleNamespace(
                settings=Settings(group_managers=[{"name": "Alice Manager", "description": "computing"}])
            )
        ),
        client=SimpleNamespace(
            dn="/DC=org/DC=example/CN=Jane Doe",
            issuer="/DC=org/DC=example/CN=Fuzz CA",
            email="jane@example.org",
        ),
        session=lambda path: session,
    )
    pages = [
        reg.form_page(req, "cms"),  # type: ignore[arg-type]
        reg.form_page(
            req,
            "cms",
            {"name": "Jane"},
            {"surname": ["Surname is required"]},  # type: ignore[arg-type]
            ["You must accept the AUP"],
        ),
        reg.waits_confirmation_page("cms"),
        reg.limbo_page("cms"),
        reg.disabled_page("cms"),
        reg.confirmation_required_page("cms", 1_790_000_000),
        reg.confirmation_error_page("cms", "Wrong confirmation id"),
        reg.no_client("cms"),
        Response.redirect("/voms/cms/user/home.action"),
        Response.redirect("/voms/cms/register/start.action"),
        Response.redirect("https://elsewhere.example.net/login"),
        Response.html("<html><body><h1>HTTP Status 500 - Internal Server Error</h1></body></html>", 500),
        Response.html(
            "<html><body><h1>HTTP Status 404 - /voms/cms/register/start.action</h1></body></html>", 404
        ),
    ]
    return [_http(p) for p in pages]


# -- configuration -------------------------------------------------------------------------------------


def config_seeds() -> list[bytes]:
    example = (ROOT / "config.example.toml").read_bytes()
    small = (
        b'vo = "cms"\n[user]\ngiven_name = "Jane"\nemail = "jane@example.org"\n'
        b'[mail]\nkind = "imap"\nport = 993\n'
    )
    env = (
        b"ONBOARD_USER__EMAIL=jane@example.org\nONBOARD_VO=dteam\n"
        b"ONBOARD_MAIL__PORT=143\nONBOARD_CA__P12=/tmp/x.p12\n"
    )
    return [
        example,
        small,
        small + ENV_MARK + env,
        b'[vos.myvo]\nkind = "iam"\nurl = "https://iam.example.org"\n'
        b'vomses = ["\\"myvo\\" \\"h\\" \\"1\\" \\"/DC=x\\" \\"myvo\\""]\n'
        b'[vos.myvo.lsc]\n"h" = ["/DC=x/CN=h", "/DC=x/CN=ca"]\n',
        b"[registration]\npoll_min_seconds = 0\ngroups = [1, 2]\n",
        b"" + ENV_MARK + b"ONBOARD_SUBMIT_HOST__PORT=70000\nONBOARD_USER=flat\n",
    ]


def tarball_seeds() -> list[bytes]:
    """A small trust bundle (a CA, its hash link, a policy file) in each compression, and odd ones."""
    import bz2
    import gzip
    import lzma

    from onboard.pki import names
    from tests.lib.pki import CA
    from tests.lib.tarballs import tar_bytes

    ca = CA()
    h = names.subject_hash(ca.cert.subject)

    policy = b"access_id_CA X509 '/CN=x'\n"
    good = tar_bytes({"ca.pem": ca.signer.pem(), f"{h}.signing_policy": policy}, {f"{h}.0": "ca.pem"})
    loop = tar_bytes({"ca.pem": ca.signer.pem()}, {"a.pem": "b.pem", "b.pem": "a.pem"})
    return [good, gzip.compress(good), bz2.compress(good), lzma.compress(good), gzip.compress(loop)]


def known_hosts_seeds() -> list[bytes]:
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    return [
        f"submit.example.org ssh-ed25519 {key}\n".encode(),
        f"# comment\n*.example.org,!bad.example.org ssh-ed25519 {key} a comment\n".encode(),
        f"@revoked * ssh-ed25519 {key}\n@cert-authority *.example.org ssh-ed25519 {key}\n".encode(),
        f"[127.0.0.?]:2222 ssh-ed25519 {key}\n|1|c2FsdA==|aGFzaA== ssh-ed25519 {key}\n".encode(),
        b"garbage\n@unknown x y z\nhost ssh-rsa !!!\n",
    ]
