"""The sandbox's CA portal and join point, for orientation sessions where trainees use their own machines.

Routes on the "open" listener (TLS, no client certificate needed):

    GET  /onboard/join     what a trainee's `onboard sandbox join` needs: the trust bundle (the sandbox CA's
                           trust directory as a tar.gz), the root CA's SHA-256 (which the instructor reads
                           aloud), and a ready-made configuration for this sandbox
    POST /portal/issue     the CA portal: name, e-mail and a passphrase (>= 12 characters) in, a
                           password-protected Certificate.p12 out — what HARICA or Sectigo hand out

Installed by the sandbox's web App (EXTENSIONS in web.py). Nothing secret goes out: the trust bundle
holds public CA certificates only, and the passphrase of an issued .p12 is the requester's own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

MIN_PASSPHRASE = 12


def install(app) -> None:
    app.route("GET", "/onboard/join", join_info, listener="open")
    app.route("POST", "/portal/issue", issue, listener="open")


def fingerprint(der: bytes) -> str:
    """SHA-256 of a certificate, in groups of four hex digits: easy to read aloud and compare."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


def trust_bundle(trust_dir: Path) -> bytes:
    """The trust directory as a tar.gz (files and their hash links), as `onboard trust --install` takes it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path in sorted(trust_dir.iterdir()):
            info = tarfile.TarInfo(f"certificates/{path.name}")
            info.mtime = int(path.lstat().st_mtime)
            if path.is_symlink():
                info.type = tarfile.SYMTYPE
                info.linkname = Path(path.readlink()).name
                tf.addfile(info)
            elif path.is_file():
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def trainee_config(app) -> dict[str, Any]:
    """The configuration a trainee needs for this sandbox (user details are added by `join`)."""
    ctx = app.ctx
    ca = ctx.ca.ensure()
    s = ctx.settings
    vos = {}
    try:
        voms_dn = ca.voms_dn()
    except Exception:  # a sandbox without a VOMS server certificate yet
        voms_dn = ""
    for vo in s.vos:
        entry: dict[str, Any] = {"kind": "voms-admin", "url": f"{app.base_url('voms')}/voms/{vo}"}
        if voms_dn:
            entry["vomses"] = [f'"{vo}" "{s.hostname}" "{s.voms_port(vo)}" "{voms_dn}" "{vo}"']
            entry["lsc"] = {s.hostname: [voms_dn, ca.root_dn]}
        vos[vo] = entry
    out: dict[str, Any] = {
        "vo": s.vos[0],
        "ca": {"provider": "sandbox", "portal_url": f"{app.base_url('open')}/portal"},
        "vos": vos,
        "registration": {"poll_min_seconds": 2, "poll_max_seconds": 10},
    }
    ssh_port = s.ports.get("ssh") if s.ports else None
    if ssh_port:
        out["submit_host"] = {"host": s.hostname, "port": ssh_port}
    return out


def join_info(req):
    from cryptography.hazmat.primitives import serialization

    from onboard.sandbox.web import Response

    ctx = req.app.ctx
    ca = ctx.ca.ensure()
    root_der = ca.root.public_bytes(serialization.Encoding.DER)
    body = {
        "sandbox": ctx.settings.hostname,
        "root_sha256": fingerprint(root_der),
        "trust_bundle": base64.b64encode(trust_bundle(ca.trust_dir)).decode(),
        "config": trainee_config(req.app),
        "mail_root": str(ctx.mail_dir),
    }
    return Response.json(body)


def issue(req):
    from onboard.sandbox.web import Response

    data = req.json() if "json" in (req.headers.get("Content-Type") or "") else None
    if not isinstance(data, dict):
        data = {k: v[0] for k, v in req.form().items() if v}
    name = str(data.get("name", "")).strip()
    email = str(data.get("email", "")).strip()
    passphrase = str(data.get("passphrase", ""))
    legacy = str(data.get("legacy", "")).lower() in ("1", "true", "yes", "on")
    if not name or "@" not in email:
        return Response.json({"error": "name and e-mail are required"}, status=400)
    if len(passphrase) < MIN_PASSPHRASE:
        return Response.json({"error": f"the passphrase must have at least {MIN_PASSPHRASE} characters"}, status=400)
    from onboard.sandbox.ca import CAError

    try:
        blob, info = req.app.ctx.ca.ensure().issue_user(name, email, passphrase.encode(), legacy=legacy)
    except CAError as e:
        return Response.json({"error": str(e)}, status=400)
    req.app.ctx.log(f"portal: issued {info.subject} to {email}")
    return Response(blob, content_type="application/x-pkcs12",
                    headers=[("Content-Disposition", 'attachment; filename="Certificate.p12"'),
                             ("Cache-Control", "no-store")])
