"""The device flow's verification page, as IAM's IamDeviceEndpointController serves it.

    GET  /device[?user_code=C]   requestUserCode: a form for the code (POST device/verify)
    POST /device/verify          approveDevice: which client asks for which scopes, Authorize / Deny
    POST /device/approve         user_code + user_oauth_approval=true|false -> deviceApproved

Who approves: the IAM account the TLS client certificate of the browser is linked to, or the account
logged in to this IAM in the browser's session (POST /login, or the CERN profile's SSO). A code can be
approved once, by one account, and only at the IAM (VO) that issued it: one trainee cannot grant
another trainee's account, nor use a code meant for another VO.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from onboard.sandbox.iam import oidc_model
from onboard.sandbox.web import Response

if TYPE_CHECKING:
    from onboard.sandbox.web import Request

# MITREid Connect's messages (device.* in its messages.properties), which IAM's pages show
ERRORS = {
    "noUserCode": "The code that you entered was not found.",
    "expiredUserCode": "The code that you entered has expired. Return to your device and request a new code.",
    "userCodeAlreadyApproved": "The code that you entered has already been used.",
    "userCodeMismatch": "There was an error processing the code you entered. Try refreshing the page and "
    "returning to your device to request a new code.",
}


def _page(title: str, body: str, status: int = 200) -> Response:
    return Response.html(
        f"<!doctype html><html><head><title>{escape(title)}</title></head><body>{body}</body></html>", status
    )


def account(req: Request, vo: str):
    ctx = req.app.ctx
    if req.client is not None:
        row = oidc_model.account_of_certificate(ctx, vo, req.client.dn, req.client.issuer)
        if row is not None:
            return row
    user = req.session(f"/iam/{vo}").get("iam_user")
    return oidc_model.active_account(ctx, vo, user) if user else None


def _ask_code(base: str, error: str | None = None, code: str = "", status: int = 200) -> Response:
    alert = f'<div class="alert alert-error">{escape(ERRORS[error])}</div>' if error else ""
    return _page(
        "Enter Code",
        f"<h1>Enter Code</h1>{alert}<p>Please enter the code displayed on your device into the box below and "
        f'press submit.</p><form action="{escape(base)}/device/verify" method="POST">'
        f'<input type="text" name="user_code" id="user_code" value="{escape(code)}"/>'
        '<input type="submit" name="approve" id="submit" value="Submit"/></form>',
        status,
    )


def handle(req: Request, vo: str, rest: str, base: str) -> Response:
    who = account(req, vo)
    if who is None:
        return _page(
            "Login required",
            "<h1>Login required</h1><p class='error'>Sign in to this IAM first: a browser with a certificate "
            f"linked to your account, or <a href='{escape(base)}/login'>log in</a>.</p>",
            401,
        )
    if req.method == "GET" and rest == "/device":
        return _ask_code(base, code=req.param("user_code") or "")
    if req.method != "POST" or rest not in ("/device/verify", "/device/approve"):
        return _page("Not found", "<p>The requested resource is not available.</p>", 404)
    code = (req.param("user_code") or "").strip().upper()
    row = oidc_model.pending_code(req.app.ctx, code)
    if row is None or row["vo"] != vo:
        with req.app.ctx.db() as db:
            seen = db.execute(
                "SELECT status, expires, vo FROM oidc_device WHERE user_code=?", (code,)
            ).fetchone()
        why = "noUserCode"
        if seen is not None and seen["vo"] == vo:
            why = "userCodeAlreadyApproved" if seen["status"] != "pending" else "expiredUserCode"
        return _ask_code(base, why, status=400)
    if rest == "/device/verify":
        scopes = "".join(f"<li>{escape(s)}</li>" for s in row["scope"].split())
        return _page(
            "Approve",
            "<h1>Approve New Device</h1>"
            f"<h2>Do you authorize the client {escape(row['client_id'])} to access "
            f"your {escape(vo)} account ({escape(who['username'])})?</h2><p>Access to:</p><ul>{scopes}</ul>"
            f'<form name="confirmationForm" action="{escape(base)}/device/approve" method="POST">'
            f'<input type="hidden" name="user_code" value="{escape(row["user_code"])}"/>'
            '<button type="submit" name="user_oauth_approval" id="authorize" value="true">Authorize</button>'
            '<button type="submit" name="user_oauth_approval" id="deny" value="false">Deny</button></form>',
        )
    approve = req.param("user_oauth_approval") == "true"
    if oidc_model.decide(req.app.ctx, code, who["username"], approve, vo=vo) is None:
        return _ask_code(base, "userCodeMismatch", status=400)
    req.app.ctx.log(f"iam {vo}: device code {'approved' if approve else 'denied'} by {who['username']}")
    said = "The device has been approved." if approve else "The device has NOT been approved."
    return _page("Approve", f"<h1>{'Approved' if approve else 'Not approved'}</h1><p id='result'>{said}</p>")
