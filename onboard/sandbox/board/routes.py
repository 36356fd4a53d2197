"""The board page's routes on the sandbox's open listener (installed through web.EXTENSIONS).

    GET  /board             the page: no data in it, only the frame (data comes as JSON, written into the
                            page by board.js as text, never as HTML: what a trainee typed stays text)
    GET  /board/board.js    its script; /board/board.css its style (own files: the CSP allows no inline)
    POST /board/login       {"token": ...}: the instructor's token for a session cookie
    GET  /board/state.json  rows, the room's picture, pending IAM requests, the CSRF token (session only)
    POST /board/decide      {"action": "approve"|"reject", "kind": "voms"|"iam", "id", "reason"}, with the
                            session's CSRF token in X-Board-CSRF and a JSON body (session only)
    POST /board/logout

The page polls state.json every few seconds over one kept-alive connection: a browser holds one or two
connections, well inside the listener's limits (connection_limits.py), and no long-lived stream holds a
thread or outlives the request deadline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Any

from onboard.sandbox.board import access, assets
from onboard.sandbox.web import Response

# no inline script or style, nothing from elsewhere, never framed (the approve buttons cannot be clickjacked)
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
                                "frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
CSRF_HEADER = "X-Board-CSRF"
MAX_REASON = 300
# wrong tokens are logged once per address and minute, with how many came: a stranger's flood of guesses
# (parallel requests each wait their own 0.5 s) must not grow the instructor's log with it
WRONG_LOG_SECONDS = 60.0
MAX_WRONG_ADDRESSES = 1024
_wrong_lock = threading.Lock()
_wrong: dict[str, tuple[float, int]] = {}  # address -> (when last logged, guesses since)


def install(app) -> None:
    app.route("GET", "/board", page, listener="open")
    app.route("GET", "/board/", page, listener="open")
    app.route("GET", "/board/board.js", script, listener="open")
    app.route("GET", "/board/board.css", style, listener="open")
    app.route("POST", "/board/login", login, listener="open")
    app.route("POST", "/board/logout", logout, listener="open")
    app.route("GET", "/board/state.json", state, listener="open")
    app.route("POST", "/board/decide", decide, listener="open")


def _secured(resp: Response) -> Response:
    resp.headers.extend(SECURITY_HEADERS)
    return resp


def _json(obj: Any, status: int = 200) -> Response:
    return _secured(Response.json(obj, status))


def page(req) -> Response:
    return _secured(Response.html(assets.PAGE))


def script(req) -> Response:
    return _secured(Response(assets.SCRIPT, content_type="text/javascript; charset=UTF-8"))


def style(req) -> Response:
    return _secured(Response(assets.STYLE, content_type="text/css; charset=UTF-8"))


def _same_origin(req) -> bool:
    """A browser says where a request comes from; one from another site's page is refused (with the
    SameSite cookie and the CSRF header, the third lock on the door)."""
    site = req.headers.get("Sec-Fetch-Site")
    if site and site not in ("same-origin", "none"):
        return False
    origin = req.headers.get("Origin")
    return not origin or origin == f"https://{req.headers.get('Host', '')}"


def _json_body(req) -> dict | None:
    if (req.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
        return None  # a cross-site HTML form cannot send JSON without the browser asking us first
    try:
        data = req.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def login(req) -> Response:
    data = _json_body(req)
    if data is None or not _same_origin(req):
        return _json({"error": "a JSON body from this page is required"}, 400)
    got = access.login(req.app.ctx, data.get("token"))
    if got is None:
        _log_wrong_token(req.app.ctx, req.remote)
        time.sleep(0.5)  # guessing 256-bit tokens is hopeless anyway; this keeps the log short too
        return _json({"error": "not the instructor's token: `onboard sandbox board --web` prints a link"},
                     403)
    sid, _ = got
    req.app.ctx.log(f"board: the instructor's page opened from {req.remote}")
    resp = _json({"ok": True})
    resp.headers.append(("Set-Cookie", access.set_cookie(sid)))
    return resp


def _log_wrong_token(ctx, remote: str) -> None:
    now = time.monotonic()
    with _wrong_lock:
        last, unlogged = _wrong.get(remote, (0.0, 0))
        if last and now - last < WRONG_LOG_SECONDS:
            _wrong[remote] = (last, unlogged + 1)
            return
        if len(_wrong) >= MAX_WRONG_ADDRESSES:
            _wrong.clear()
        _wrong[remote] = (now, 0)
    more = f" ({unlogged} more since the last line)" if unlogged else ""
    ctx.log(f"board: a wrong instructor token from {remote}{more}")


def logout(req) -> Response:
    if not _same_origin(req) or _json_body(req) is None:
        # another site's form: its cookie-clearing answer would sign the instructor's projector out
        return _json({"error": "a JSON body from this page is required"}, 400)
    access.logout(req.app.ctx, req.headers.get("Cookie"))
    resp = _json({"ok": True})
    resp.headers.append(("Set-Cookie", access.clear_cookie()))
    return resp


def _refused() -> Response:
    return _json({"error": "the board is the instructor's: open the link `onboard sandbox board --web` "
                           "prints"}, 401)


def state(req) -> Response:
    from onboard.sandbox.board import room, rows

    ctx = req.app.ctx
    sess = access.session(ctx, req.headers.get("Cookie"))
    if sess is None:
        return _refused()
    now = time.time()
    got = rows.rows(ctx.dir, now)
    return _json({
        "now": now,
        "csrf": sess["csrf"],
        "rows": [asdict(r) | {"age_seconds": None if r.since is None else max(0.0, now - r.since)}
                 for r in got],
        "room": room.picture(got, now),
        "iam": _iam_pending(ctx),
    })


def _iam_pending(ctx) -> list[dict[str, Any]]:
    try:
        from onboard.sandbox import iam

        return [{"id": r.get("uuid") or r.get("id"), "vo": r.get("vo"), "username": r.get("username"),
                 "email": r.get("email"), "status": r.get("status")} for r in iam.pending(ctx)]
    except Exception:  # noqa: BLE001 - no IAM table in this sandbox: nothing pending there
        return []


def decide(req) -> Response:
    ctx = req.app.ctx
    sess = access.session(ctx, req.headers.get("Cookie"))
    if sess is None:
        return _refused()
    data = _json_body(req)
    if data is None or not _same_origin(req) or not access.csrf_ok(sess, req.headers.get(CSRF_HEADER)):
        return _json({"error": "refused: not a request of the board page (CSRF check)"}, 403)
    action, kind, rid = data.get("action"), data.get("kind", "voms"), data.get("id")
    reason = data.get("reason") or ""
    if action not in ("approve", "reject") or kind not in ("voms", "iam") or not isinstance(reason, str):
        return _json({"error": "action must be approve or reject, kind voms or iam"}, 400)
    reason = reason[:MAX_REASON]
    from onboard.errors import OnboardError

    try:
        if kind == "voms":
            if not isinstance(rid, int) or isinstance(rid, bool):
                return _json({"error": "id must be a request number"}, 400)
            from onboard.sandbox import voms_admin

            if action == "approve":
                voms_admin.approve(ctx, rid, approver="instructor (board page)")
            else:
                voms_admin.reject(ctx, rid, reason or None, approver="instructor (board page)")
        else:
            if not isinstance(rid, str):
                return _json({"error": "id must be an IAM request id"}, 400)
            from onboard.sandbox import iam

            iam.approve(ctx, rid) if action == "approve" else iam.reject(ctx, rid, reason)
    except (OnboardError, ValueError, LookupError) as e:
        message = getattr(e, "message", None) or str(e)
        return _json({"error": message}, 409)
    ctx.log(f"board: {action} {kind} request {str(rid)[:64]} from the board page ({req.remote})")
    return _json({"ok": True, "action": action, "id": rid})
