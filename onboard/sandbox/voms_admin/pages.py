# ruff: noqa: E501 - page templates keep the line structure of the real ones
"""VOMS-Admin's pages as the sandbox serves them: the registration form, the pages of a request's states,
the confirmation steps (manager and group selection). Byte for byte what the clients parse."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from html import escape
from typing import Any

from onboard.sandbox.voms_admin.model import groups_offered
from onboard.sandbox.web import Request, Response

INVALID_TOKEN = "The form has already been processed or no token was supplied, please try again."
DEFAULT_AUP = """{vo} VO Acceptable Use Policy (onboard sandbox)

By registering with the {vo} VO you agree to use its resources only for the work of the VO, to keep
your credentials secret, to report any suspected compromise at once, and to accept that your
personal data is processed to manage your membership. This is a sandbox for practice: no real
resources are granted.
"""


def page(vo: str, title: str, body: str, status: int = 200) -> Response:
    return Response.html(
        '<!DOCTYPE html>\n<html><head><meta charset="UTF-8"/>'
        f"<title>VOMS Admin - {escape(vo)}</title></head>\n<body>\n"
        f'<div id="header"><span class="voName">{escape(vo)}</span> VOMS Admin</div>\n'
        f'<div id="content">\n{body}\n</div>\n</body></html>\n',
        status,
    )


def error_list(errors: list[str]) -> str:
    if not errors:
        return ""
    return (
        '<ul class="errorMessage">' + "".join(f"<li><span>{escape(e)}</span></li>" for e in errors) + "</ul>"
    )


def field_error(errors: dict[str, list[str]], name: str) -> str:
    return "".join(
        f'<span class="errorMessage" errorFor="{name}">{escape(m)}</span>' for m in errors.get(name, [])
    )


def java_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")


def form_page(
    req: Request,
    vo: str,
    values: dict[str, str] | None = None,
    field_errors: dict[str, list[str]] | None = None,
    action_errors: list[str] | None = None,
) -> Response:
    ctx = req.app.ctx
    client = req.client
    assert client is not None
    values = values or {}
    field_errors = field_errors or {}
    token = secrets.token_hex(16).upper()
    req.session(f"/voms/{vo}")["struts.token"] = token
    email = values.get("emailAddress", client.email or "")
    aup = (ctx.settings.aup_text or DEFAULT_AUP).format(vo=vo)

    def text(name: str, label: str, size: int = 40) -> str:
        return (
            f'<li><label for="submit-request_{name}">{label}:</label>{field_error(field_errors, name)}'
            f'<input type="text" name="{name}" size="{size}" value="{escape(values.get(name, ""))}" '
            f'id="submit-request_{name}" class="registrationField"/></li>\n'
        )

    required = ctx.settings.required_fields
    fields = text("name", "Given name") + text("surname", "Family name")
    if "institution" in required:
        fields += text("institution", "Institution")
    if "phoneNumber" in required:
        fields += text("phoneNumber", "Phone number")
    if "address" in required:
        fields += (
            f'<li><label for="submit-request_address">Address:</label>{field_error(field_errors, "address")}'
            f'<textarea name="address" rows="5" cols="40" id="submit-request_address" '
            f'class="registrationField">{escape(values.get("address", ""))}</textarea></li>\n'
        )
    fields += (
        f'<li><label for="submit-request_emailAddress">Email address:</label>'
        f'{field_error(field_errors, "emailAddress")}<input type="text" name="emailAddress" size="60" '
        f'value="{escape(email)}" id="submit-request_emailAddress" class="registrationField"/></li>\n'
    )
    checked = ' checked="checked"' if values.get("aupAccepted") == "true" else ""
    body = f"""<h1>
Welcome to the registration page for the <span class="voName">{escape(vo)}</span> VO.
</h1>
<p>To access the VO resources, you must agree to the VO's Acceptable Usage Policy (AUP) rules.<br/>
Please fill out all fields in the form below and click on the submit button at the bottom of the page.</p>
<div class="alert alert-error">After you submit this request, you will receive an email with instructions on how to
proceed.<br/>Your request will not be forwarded to the VO managers until you confirm that you have a valid email
address by following those instructions.</div>
{error_list(action_errors or [])}
<form id="submit-request" name="submit-request" action="/voms/{escape(vo)}/register/submit-request.action" method="post">
<input type="hidden" name="struts.token.name" value="token"/>
<input type="hidden" name="token" value="{token}"/>
<h2>Your certificate subject (DN):</h2>
<div class="highlight">{escape(client.dn)}</div>
<h2>The CA that issued your certificate:</h2>
<div class="regDN">{escape(client.issuer)}</div>
<ul class="form">
{fields}<li><h2>The VO AUP:</h2><textarea rows="20" cols="80" readonly="readonly">{escape(aup)}</textarea></li>
<li class="aupAcceptance">{field_error(field_errors, "aupAccepted")}<input type="checkbox" name="aupAccepted" value="true"
 id="submit-request_aupAccepted"{checked}/><input type="hidden" id="__checkbox_submit-request_aupAccepted"
 name="__checkbox_aupAccepted" value="true"/><label for="submit-request_aupAccepted">I confirm I have read and agree
 with the terms expressed in the VO Acceptable Usage Policy document displayed above.</label></li>
<li><label for="submit-request_userMessage">Message for VO administrator:</label>{field_error(field_errors, "userMessage")}
<textarea name="userMessage" rows="3" cols="80" id="submit-request_userMessage"
 class="registrationField">{escape(values.get("userMessage", ""))}</textarea></li>
<li><input type="submit" id="submit-request_0" value="Submit"/></li>
</ul>
</form>"""
    return page(vo, "register", body)


def waits_confirmation_page(vo: str) -> Response:
    return page(
        vo,
        "waits",
        "<h1>Pending membership request</h1>\n<p>We have already received your membership "
        "request but are still waiting for you to confirm it. Check your inbox!</p>",
    )


def limbo_page(vo: str) -> Response:
    return page(
        vo,
        "limbo",
        "<h1>Pending membership request</h1>\n<p>Your membership request is being handled "
        "by the VO administrators. You will receive a notification of their decision regarding your "
        "request shortly.</p>",
    )


def disabled_page(vo: str) -> Response:
    return page(
        vo,
        "disabled",
        "<h1>Registration disabled</h1>\n<p>The registration service for this VO is currently disabled.</p>",
    )


def confirmation_required_page(vo: str, expiration: float) -> Response:
    return page(
        vo,
        "confirmation",
        f"<h1>Confirmation required.</h1>\n<p>An email has been sent to you with "
        f"instructions on how to proceed with the registration for the {escape(vo)} VO.</p>\n<p>Please "
        f'follow the instructions before the following date: <span class="expirationDate">'
        f"{java_date(expiration)}</span> or your request will be discarded by voms-admin.</p>",
    )


def confirmation_error_page(vo: str, message: str) -> Response:
    return page(
        vo,
        "error",
        "<h1>Request Confirmation/Cancellation error.</h1>\n<p>" + error_list([message]) + "</p>",
    )


def no_client(vo: str) -> Response:
    # the container already refused the handshake; reachable only if a listener is configured leniently
    return page(
        vo,
        "authn",
        "<h1>Certificate information</h1><p>You did not provide a certificate: "
        "VOMS Admin needs one to identify you.</p>",
        401,
    )


def select_manager_page(
    req: Request, vo: str, row: Any, cid: str, errors: list[str] | None = None
) -> Response:
    rows = "".join(
        # as selectManager.jsp renders it: the name in a bare cell, no <label>
        f'<tr>\n<td width="5%">\n<input\ntype="radio"\nname="managerId"\nvalue="{i}"/>\n</td>\n'
        f'<td>\n{escape(m.get("name", ""))}\n</td>\n<td>\n{escape(m.get("description", ""))}\n</td>\n</tr>\n'
        for i, m in enumerate(req.app.ctx.settings.group_managers, start=1)
    )
    return page(
        vo,
        "selectManager",
        "<h1>Manager selection</h1>\n<p>Please select the VO manager that will handle your VO membership "
        f"request from\nthe following list.</p>\n{error_list(errors or [])}\n"
        f'<form id="select-manager" name="select-manager" action="/voms/{escape(vo)}/register/select-manager.action" '
        'method="post">\n'
        f'<input type="hidden" name="requestId" value="{row["request_id"]}"/>\n'
        f'<input type="hidden" name="confirmationId" value="{escape(cid)}"/>\n'
        '<table class="table"><tr><th/><th>Manager name (or alias)</th><th>Description</th></tr>\n'
        f'{rows}</table>\n<input type="submit" value="Continue"/>\n</form>',
    )


def request_attributes_page(
    req: Request, vo: str, row: Any, cid: str, errors: list[str] | None = None
) -> Response:
    token = secrets.token_hex(16).upper()
    req.session(f"/voms/{vo}")["struts.token"] = token
    rows = "".join(
        f'<tr class="tableRow"><td width="1%"><input type="checkbox" name="requestedGroups" value="{escape(g)}" '
        f'id="group{i}" class="groupCheckbox"/></td><td><label for="group{i}"><span class="group"></span>'
        f"{escape(g)}</label></td></tr>\n"
        for i, g in enumerate(groups_offered(req.app.ctx, vo))
    )
    return page(
        vo,
        "requestAttributes",
        "<h1>Group selection</h1>\n<p>Please select the VO groups you would like to be member of.<br/>\n"
        '<span class="strong">Note that your selection will be assessed by the VO or group\nmanager (where '
        f"applicable) which could reject some of your choices.</span></p>\n{error_list(errors or [])}\n"
        f'<form id="request-attributes" name="request-attributes" '
        f'action="/voms/{escape(vo)}/register/request-attributes.action" method="post">\n'
        '<input type="hidden" name="struts.token.name" value="token"/>\n'
        f'<input type="hidden" name="token" value="{token}"/>\n'
        f'<input type="hidden" name="requestId" value="{row["request_id"]}"/>\n'
        f'<input type="hidden" name="confirmationId" value="{escape(cid)}"/>\n'
        '<table class="table"><thead><tr><th></th><th>VO group</th></tr></thead><tbody>\n'
        f'{rows}</tbody></table>\n<input type="submit" value="Continue"/>\n</form>',
    )
