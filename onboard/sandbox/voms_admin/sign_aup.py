"""The member's side of an AUP to sign again: /sign-aup (the link of the "Request to sign" mail), which
redirects to /aup/sign.action; that page shows the AUP with the "I declare I have read and agree" box
and a Struts token; submitting it signs (lifting a FAILED_TO_SIGN_AUP suspension) and redirects to
/home/login.action (italiangrid/voms-admin-server: SignAupAction, aup/SignAction, p/aup/signAup.jsp)."""

from __future__ import annotations

import secrets
from html import escape
from typing import TYPE_CHECKING

from onboard.sandbox.voms_admin import lapses
from onboard.sandbox.voms_admin.links import vo_of
from onboard.sandbox.voms_admin.model import AUP_VERSION, member
from onboard.sandbox.voms_admin.pages import INVALID_TOKEN, error_list, no_client, page
from onboard.sandbox.web import Request, Response

if TYPE_CHECKING:
    from onboard.sandbox.web import App

NOT_MEMBER = ("Current authenticated client is not a member of the VO and, as such, cannot be entitled to "
              "sign AUP for the VO.")
MUST_ACCEPT = "You have to accept the terms of the AUP to proceed!"


def _form(req: Request, vo: str, errors: list[str]) -> Response:
    token = secrets.token_hex(16).upper()
    req.session(f"/voms/{vo}")["struts.token"] = token
    text = req.app.ctx.settings.aup_text or f"The Acceptable Use Policy of VO {vo}."
    return page(vo, "sign AUP", (
        f"<h1>VO Acceptable usage policy version {AUP_VERSION}</h1>\n{error_list(errors)}"
        f'<form id="sign" name="sign" action="/voms/{escape(vo)}/aup/sign.action" method="post">\n'
        '<input type="hidden" name="struts.token.name" value="token"/>\n'
        f'<input type="hidden" name="token" value="{token}"/>\n'
        f'<textarea rows="24" readonly="readonly">{escape(text)}</textarea>\n'
        '<input type="checkbox" name="aupAccepted" value="true" id="sign_aupAccepted"/>'
        '<input type="hidden" name="__checkbox_aupAccepted" value="true"/>'
        '<label for="sign_aupAccepted">I declare I have read and agree with the AUP terms displayed '
        "above</label>\n"
        '<input type="submit" value="Submit"/>\n</form>'))


def sign(req: Request) -> Response:
    vo = vo_of(req)
    c, ctx = req.client, req.app.ctx
    if c is None:
        return no_client(vo)
    with ctx.db() as db:
        u = member(db, vo, c.dn, c.issuer)
    if u is None:
        return page(vo, "sign AUP", error_list([NOT_MEMBER]))
    if req.method == "GET":
        return _form(req, vo, [])
    expected = req.session(f"/voms/{vo}").pop("struts.token", None)
    if not req.param("token") or req.param("token") != expected:
        return _form(req, vo, [INVALID_TOKEN])
    if req.param("aupAccepted") != "true":
        return _form(req, vo, [MUST_ACCEPT])
    lapses.sign_aup(ctx, u["id"])
    return Response.redirect(f"/voms/{vo}/home/login.action")


def install(app: App, base: str) -> None:
    app.route("GET", base + "/sign-aup", lambda req: Response.redirect(f"/voms/{vo_of(req)}/aup/sign.action"))
    for method in ("GET", "POST"):
        app.route(method, base + "/aup/sign.action", sign)
