"""The sandbox's CA portal and join point, for orientation sessions where trainees use their own machines.

Routes on the "open" listener (TLS, no client certificate needed):

    GET  /onboard/join     what a trainee's `onboard sandbox join` needs: the trust bundle (the sandbox CA's
                           trust directory as a tar.gz), the root CA's SHA-256 (which the instructor reads
                           aloud), and a ready-made configuration for this sandbox
    POST /onboard/report   a trainee's onboard saying where it stands (state, waits, last error) for the
                           instructor's board (onboard/orientation/report.py; nothing secret in it)
    POST /portal/ssh-key   a trainee's SSH public key, authorized for their user on the sandbox submit host
    POST /portal/issue     the CA portal: name, e-mail and a passphrase (>= 12 characters) in, a
                           password-protected Certificate.p12 out — what HARICA or Sectigo hand out

Installed by the sandbox's web App (EXTENSIONS in web.py). Nothing secret goes out: the trust bundle
holds public CA certificates only, and the passphrase of an issued .p12 is the requester's own.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

MIN_PASSPHRASE = 12


def install(app) -> None:
    app.route("GET", "/onboard/join", join_info, listener="open")
    app.route("POST", "/portal/issue", issue, listener="open")
    app.route("POST", "/portal/ssh-key", ssh_key, listener="open")
    app.route("POST", "/onboard/report", report, listener="open")


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
    """The configuration a trainee needs for this sandbox (user details and SSH user are added by `join`)."""
    ctx = app.ctx
    s = ctx.settings
    vos: dict[str, Any] = {}
    for vo in s.vos:
        entry: dict[str, Any] = {"kind": "voms-admin", "url": f"{app.base_url('voms')}/voms/{vo}"}
        try:
            from onboard.sandbox import voms_admin

            entry["vomses"] = [voms_admin.vomses_line(ctx, vo)]
            entry["lsc"] = {s.hostname: voms_admin.lsc(ctx, vo)}
        except Exception:  # noqa: BLE001 - no VOMS certificate yet: the verify step then skips the VO check
            pass
        vos[vo] = entry
    out: dict[str, Any] = {
        "vo": s.vos[0],
        "user": {"institution": "Onboard Sandbox", "phone": "+00 000 000000", "address": "Sandbox Lane 1"},
        "ca": {"provider": "sandbox", "portal_url": f"{app.base_url('open')}/portal"},
        "vos": vos,
    }
    ssh_port = (s.ports or {}).get("ssh")
    if ssh_port:
        # the submit host runs on the instructor's machine: its grid tools trust the sandbox CA there
        submit: dict[str, Any] = {"host": s.hostname, "port": ssh_port,
                                  "x509_cert_dir": str(ctx.ca.trust_dir)}
        try:
            from onboard.sandbox.submit_host import fingerprint as ssh_fp
            from onboard.sandbox.submit_host import load_or_make_host_key

            host_key = load_or_make_host_key(ctx.dir / "submit" / "ssh_host_ed25519_key")
            submit["trust_host_key"] = ssh_fp(host_key)
        except Exception:  # noqa: BLE001 - without it the trainee confirms the key by hand
            pass
        out["submit_host"] = submit
    return out


def report(req):
    """Keep what a trainee's onboard reported in DIR/board/<hash of the DN or e-mail>.json."""
    import time

    from onboard.atomicfile import write_atomic
    from onboard.sandbox.web import Response

    data = req.json() if "json" in (req.headers.get("Content-Type") or "") else None
    if not isinstance(data, dict) or not (data.get("subject") or data.get("email")):
        return Response.json({"error": "a JSON body with subject or email is required"}, status=400)
    keep = {k: data.get(k) for k in ("subject", "email", "vo", "state", "done", "waiting_for", "since",
                                      "last_error")}
    keep = {k: (str(v)[:500] if isinstance(v, str) else v) for k, v in keep.items()}
    keep["received"] = time.time()
    directory = req.app.ctx.dir / "board"
    directory.mkdir(mode=0o700, exist_ok=True)
    name = hashlib.sha256(str(keep.get("subject") or keep.get("email")).encode()).hexdigest()[:32]
    write_atomic(directory / f"{name}.json", json.dumps(keep).encode("utf-8"))
    return Response.json({"ok": True})


def ssh_key(req):
    """Authorize a trainee's SSH public key on the sandbox submit host (a practice host, jailed homes)."""
    from onboard.sandbox.web import Response

    data = req.json() if "json" in (req.headers.get("Content-Type") or "") else None
    if not isinstance(data, dict):
        return Response.json({"error": "a JSON body with user and public_key is required"}, status=400)
    user, line = str(data.get("user", "")), str(data.get("public_key", ""))
    try:
        from onboard.sandbox.submit_host import Homes

        Homes(req.app.ctx.dir / "submit").authorize(user, line)
    except ValueError as e:
        return Response.json({"error": str(e)}, status=400)
    req.app.ctx.log(f"portal: SSH key authorized for {user}")
    return Response.json({"user": user})


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
        return Response.json({"error": f"the passphrase must have at least {MIN_PASSPHRASE} characters"},
                             status=400)
    from onboard.sandbox.ca import CAError

    try:
        blob, info = req.app.ctx.ca.ensure().issue_user(name, email, passphrase.encode(), legacy=legacy)
    except CAError as e:
        return Response.json({"error": str(e)}, status=400)
    req.app.ctx.log(f"portal: issued {info.subject} to {email}")
    return Response(blob, content_type="application/x-pkcs12",
                    headers=[("Content-Disposition", 'attachment; filename="Certificate.p12"'),
                             ("Cache-Control", "no-store")])
