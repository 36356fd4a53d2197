"""The sandbox's CA portal and join point, for orientation sessions where trainees use their own machines.

Routes on the "open" listener (TLS, no client certificate needed):

    GET  /onboard/join     what a trainee's `onboard sandbox join` needs: the trust bundle (the sandbox CA's
                           trust directory as a tar.gz), the root CA's SHA-256 (which the instructor reads
                           aloud), and a ready-made configuration for this sandbox
    POST /onboard/seat     `join --token`: binds the trainee's name and e-mail to the seat (seats.py), once
    POST /onboard/report   a trainee's onboard saying where it stands (state, waits, last error) for the
                           instructor's board (onboard/orientation/report.py; nothing secret in it)
    POST /portal/ssh-key   a trainee's SSH public key, authorized for their user on the sandbox submit host
    POST /portal/issue     the CA portal: name, e-mail and a passphrase (>= 12 characters) in, a
                           password-protected Certificate.p12 out — what HARICA or Sectigo hand out

Every POST needs the seat's token (header X-Onboard-Seat) or, once issued, the seat's client certificate,
and acts on that seat only. Installed by the sandbox's web App (EXTENSIONS in web.py). Nothing secret goes
out: the trust bundle holds public CA certificates only, and the passphrase of an issued .p12 is the
requester's own.
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
    app.route("POST", "/onboard/seat", claim, listener="open")


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
        if vo in s.cern_profile_vos:  # CERN's IAM: a login first, the steps guided (iam/cern_profile.py)
            entry.update(kind="iam", registration="browser-login", url=f"{app.base_url('open')}/iam/{vo}")
        vos[vo] = entry
    out: dict[str, Any] = {
        "vo": s.vos[0],
        "user": {"institution": "Onboard Sandbox", "phone": "+00 000 000000", "address": "Sandbox Lane 1"},
        "ca": {"provider": "sandbox", "portal_url": f"{app.base_url('open')}/portal"},
        "vos": vos,
    }
    if s.vos[0] in s.cern_profile_vos:  # the sandbox IAM's VOMS-AA stand-in (Debian's voms has no REST)
        out["registration"] = {"voms_aa_url": f"{app.base_url('open')}/iam/{s.vos[0]}/generate-ac"}
    ssh_port = (s.ports or {}).get("ssh")
    if ssh_port:
        # the submit host runs on the instructor's machine: its grid tools trust the sandbox CA there
        from onboard.sandbox.submit_host import cert_dir

        submit: dict[str, Any] = {"host": s.hostname, "port": ssh_port,
                                  "x509_cert_dir": cert_dir(ctx.dir, s, ctx.ca.trust_dir)}
        try:
            from onboard.sandbox.submit_host import fingerprint as ssh_fp
            from onboard.sandbox.submit_host import load_or_make_host_key

            host_key = load_or_make_host_key(ctx.dir / "submit" / "ssh_host_ed25519_key")
            submit["trust_host_key"] = ssh_fp(host_key)
        except Exception:  # noqa: BLE001 - without it the trainee confirms the key by hand
            pass
        out["submit_host"] = submit
    return out


REPORT_FIELDS = {"vo": 64, "waiting_for": 500, "since": 40, "last_error": 500}  # string fields: their cap
MAX_STATES = 8


def _clean(text: str, cap: int) -> str:
    """One line, control characters escaped (they would steer the instructor's terminal), at most `cap`."""
    from onboard.errors import one_line

    return one_line(text[:cap])[:cap]


def _seat_json(req, needs: str):
    """(the request's JSON body, its seat) or a Response refusing it: every trainee route needs a seat."""
    from onboard.sandbox import seats
    from onboard.sandbox.web import Response

    data = req.json() if "json" in (req.headers.get("Content-Type") or "") else None
    if not isinstance(data, dict):
        return None, Response.json({"error": f"a JSON body with {needs} is required"}, status=400)
    with req.app.ctx.db() as db:
        seat = seats.of_request(req, db)
    if seat is None:
        return None, Response.json({"error": "a seat token (from the instructor) or the seat's certificate "
                                             "is required"}, status=401)
    return (data, seat), None


def claim(req):
    """`onboard sandbox join --token`: bind the trainee's name and e-mail to the seat, once."""
    from onboard.sandbox import seats
    from onboard.sandbox.web import Response

    got, refused = _seat_json(req, "name and email")
    if refused:
        return refused
    data, seat = got
    name, email = data.get("name"), data.get("email")
    if not (isinstance(name, str) and isinstance(email, str) and 0 < len(name) <= 200
            and "@" in email and len(email) <= 254 and name.isprintable() and email.isprintable()):
        return Response.json({"error": "name and e-mail are required"}, status=400)
    try:
        with req.app.ctx.db() as db:
            seats.claim(db, seat, name.strip(), email.strip(), req.app.ctx.now())
    except seats.SeatError as e:
        return Response.json({"error": str(e)}, status=403)
    req.app.ctx.log(f"portal: seat {seat['id']} claimed by {_clean(email, 254)}")
    return Response.json({"seat": seat["id"]})


def report(req):
    """Keep what a seat's onboard reported in DIR/board/seat-<id>.json (one file per seat, so at most as many
    files as seats); the subject and e-mail are the seat's own, never what the body claims."""
    import time

    from onboard.atomicfile import write_atomic
    from onboard.sandbox.web import Response

    got, refused = _seat_json(req, "the state")
    if refused:
        return refused
    data, seat = got
    keep: dict[str, Any] = {"subject": seat["subject"] or "", "email": seat["email"] or ""}
    for key, cap in REPORT_FIELDS.items():
        value = data.get(key)
        value = "" if value is None else value
        if not isinstance(value, str):
            return Response.json({"error": f"{key} must be a string"}, status=400)
        keep[key] = _clean(value, cap)
    state, done = data.get("state", []), data.get("done", False)
    if not (isinstance(state, list) and len(state) <= MAX_STATES and all(isinstance(x, str) for x in state)):
        return Response.json({"error": f"state must be a list of at most {MAX_STATES} strings"}, status=400)
    if not isinstance(done, bool):
        return Response.json({"error": "done must be true or false"}, status=400)
    keep["state"], keep["done"] = [_clean(x, 40) for x in state], done
    keep["received"] = time.time()
    directory = req.app.ctx.dir / "board"
    directory.mkdir(mode=0o700, exist_ok=True)
    write_atomic(directory / f"seat-{int(seat['id'])}.json", json.dumps(keep).encode("utf-8"))
    return Response.json({"ok": True})


def ssh_key(req):
    """Authorize a seat's SSH public key for the seat's own account on the submit host (bound once; an
    account no seat owns, e.g. the instructor's, is never given to a seat)."""
    from onboard.sandbox import seats
    from onboard.sandbox.web import Response

    got, refused = _seat_json(req, "user and public_key")
    if refused:
        return refused
    data, seat = got
    user, line = data.get("user", ""), data.get("public_key", "")
    if not isinstance(user, str) or not isinstance(line, str) or len(line) > 16384:
        return Response.json({"error": "user and public_key must be strings"}, status=400)
    from onboard.sandbox.submit_host import homes_for

    homes = homes_for(req.app.ctx.dir, req.app.ctx.settings)
    try:
        account = homes.account(user)
        with req.app.ctx.db() as db:
            owner = seats.owner_of_user(db, user)
            if owner is None and homes.exists(user):
                raise seats.SeatError(f"the account {account} is not a trainee's")
            seats.bind_user(db, seat, user)
            homes.authorize(user, line)
    except ValueError as e:
        return Response.json({"error": str(e)}, status=400)
    except seats.SeatError as e:
        return Response.json({"error": str(e)}, status=403)
    req.app.ctx.log(f"portal: SSH key authorized for {account} (seat {seat['id']})")
    return Response.json({"user": account})  # the login name (obx-<user> on the real sshd)


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
    """A seat's certificate, once: the name and e-mail must be the seat's (bound at join), and a DN that was
    issued already is refused (else anyone asking with a member's name would become that member)."""
    from onboard.sandbox import seats
    from onboard.sandbox.web import Response

    got, refused = _seat_json(req, "name, email and passphrase")
    if refused:
        return refused
    data, seat = got
    name, email, passphrase = (data.get(k, "") for k in ("name", "email", "passphrase"))
    if not all(isinstance(v, str) for v in (name, email, passphrase)):
        return Response.json({"error": "name, e-mail and passphrase must be strings"}, status=400)
    name, email = name.strip(), email.strip()
    legacy = data.get("legacy") is True
    if not name or "@" not in email:
        return Response.json({"error": "name and e-mail are required"}, status=400)
    if len(passphrase) < MIN_PASSPHRASE:
        return Response.json({"error": f"the passphrase must have at least {MIN_PASSPHRASE} characters"},
                             status=400)
    from onboard.sandbox.ca import CAError

    ctx = req.app.ctx
    try:
        with ctx.db() as db:  # one transaction: two requests for one seat or one DN cannot both pass
            seat = db.execute("SELECT * FROM seat WHERE id = ?", (seat["id"],)).fetchone()
            seats.claim(db, seat, name, email, ctx.now())
            if seat["subject"] is not None:
                raise seats.SeatError("this seat's certificate was issued already")
            blob, info = ctx.ca.ensure().issue_user(name, email, passphrase.encode(), legacy=legacy,
                                                    once=True)
            seats.bind_subject(db, seat, info.subject, ctx.now())
    except CAError as e:
        return Response.json({"error": str(e)}, status=400)
    except seats.SeatError as e:
        return Response.json({"error": str(e)}, status=403)
    ctx.log(f"portal: issued {_clean(info.subject, 300)} to {_clean(email, 254)} (seat {seat['id']})")
    return Response(blob, content_type="application/x-pkcs12",
                    headers=[("Content-Disposition", 'attachment; filename="Certificate.p12"'),
                             ("Cache-Control", "no-store")])
