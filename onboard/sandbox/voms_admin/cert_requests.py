# ruff: noqa: E501 - the page and mail templates keep the line structure of the real ones
"""VOMS-Admin's certificate request: a member asks that another certificate be added to the membership.

As upstream (voms-admin-server `view/actions/user/RequestCertificateAction.java`, `p/user/
requestCertificate.jsp`, `certificateRequest.jsp`, `operations/requests/HandleCertificateRequestOperation
.java`, `notification/dispatchers/CertificateRequestsNotificationDispatcher.java`):

    GET  /voms/<vo>/user/request-certificate!input.action   the form (for a member's certificate only)
    POST /voms/<vo>/user/request-certificate.action         multipart: struts.token.name, token, userId,
         certificateFile (a PEM certificate) or subject + caSubject; checked as upstream ("Certificate
         already bound!", "You already have a pending request for this certificate!", ...), then a
         SUBMITTED request, the "[VOMS Admin] A certificate request for VO <vo> requires your approval." mail to the
         VO administrators and a redirect to user/home.action, whose certificate pane lists it
         "(Waiting for approval)".

The administrator (`onboard sandbox cert-approve ID`) approves: the on-approval command runs first (a
real voms-server learns the certificate), the certificate is added to the member (never a second member),
and "[VOMS Admin] Your certificate request for VO <vo> has been approved." goes to the member; or rejects
("... has been rejected.", RequestRejected.vm's body). Certificate requests never expire (upstream's purger
takes membership requests only). Ids are this table's own (upstream shares one sequence with membership requests).
"""

from __future__ import annotations

import secrets
from email.parser import BytesParser
from email.policy import HTTP
from html import escape
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError
from onboard.sandbox.voms_admin.links import base_url, vo_of
from onboard.sandbox.voms_admin.mails import send
from onboard.sandbox.voms_admin.model import member
from onboard.sandbox.voms_admin.pages import INVALID_TOKEN, disabled_page, error_list, no_client, page
from onboard.sandbox.web import Request, Response

if TYPE_CHECKING:
    import sqlite3

    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App

SCHEMA = """
CREATE TABLE IF NOT EXISTS cert_req (
    request_id INTEGER PRIMARY KEY AUTOINCREMENT, vo TEXT NOT NULL, usr_id INTEGER NOT NULL,
    status TEXT NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL, creation_date REAL NOT NULL,
    expiration_date REAL NOT NULL, completion_date REAL, approver TEXT
);
"""
MAX_UPLOAD = 64 * 1024  # a PEM certificate is a few KB
NEITHER = ("Please specify a Subject, CA couple or choose a certificate file that will be uploaded to the "
           "server!")
BOUND = "Certificate already bound!"
PENDING = "You already have a pending request for this certificate!"
PREFIX = "[VOMS Admin]"  # AbstractVelocityNotification's subject prefix


def ensure(ctx: SandboxContext) -> None:
    ctx.create_tables(SCHEMA)


def _bound(db: sqlite3.Connection, vo: str, subject: str, issuer: str) -> bool:
    return member(db, vo, subject, issuer) is not None


def _pending(db: sqlite3.Connection, uid: int, subject: str, issuer: str) -> bool:
    return db.execute("SELECT 1 FROM cert_req WHERE usr_id=? AND subject=? AND issuer=? AND status='SUBMITTED'",
                      (uid, subject, issuer)).fetchone() is not None


def trusted_cas(ctx: SandboxContext) -> list[str]:
    """The CA subjects the select offers (upstream: the trusted CAs of the server)."""
    from onboard.sandbox import ca_switch

    return ca_switch.issuer_subjects(ctx.ca)


def multipart(req: Request) -> tuple[dict[str, str], bytes | None]:
    """The text fields and the uploaded certificateFile of a multipart/form-data POST (or a urlencoded one)."""
    ctype = req.headers.get("Content-Type") or ""
    if not ctype.lower().startswith("multipart/form-data"):
        return {k: v[0] for k, v in req.form().items() if v}, None
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n"
                                              + req.body)
    fields: dict[str, str] = {}
    upload = None
    for part in msg.iter_parts() if msg.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        if name == "certificateFile" and part.get_filename() is not None:
            upload = data[:MAX_UPLOAD + 1] if data else None
        else:
            fields[str(name)] = data.decode("utf-8", "replace")
    return fields, upload


def form_page(req: Request, vo: str, errors: list[str] | None = None, values: dict[str, str] | None = None,
              uid: int = 0) -> Response:
    token = secrets.token_hex(16).upper()
    req.session(f"/voms/{vo}")["struts.token"] = token
    values = values or {}
    options = "".join(f'<option value="{escape(s)}"{" selected" if values.get("caSubject") == s else ""}>'
                      f"{escape(s)}</option>" for s in trusted_cas(req.app.ctx))
    body = f"""<h1>Request that a new certificate is added to your membership</h1>
{error_list(errors or [])}
<form id="request-certificate" name="request-certificate" action="/voms/{escape(vo)}/user/request-certificate.action" method="POST" enctype="multipart/form-data">
<input type="hidden" name="struts.token.name" value="token"/>
<input type="hidden" name="token" value="{token}"/>
<input type="hidden" name="userId" value="{uid}" id="request-certificate_userId"/>
<h2>Choose a PEM encoded X509 certificate from your file system:</h2>
<div><label for="request-certificate_certificateFile">Certificate file:</label>
<input type="file" name="certificateFile" value="" id="request-certificate_certificateFile"/></div>
<h2>Or enter a Subject, CA couple:</h2>
<div><label for="request-certificate_subject">Subject (e.g.: /C=IT/O=XYZ/OU=Personal Certificate/L=ABC/CN=John Doe)</label>
<input type="text" name="subject" size="45" value="{escape(values.get("subject", ""))}" id="request-certificate_subject"/>
<label for="request-certificate_caSubject">CA:</label>
<select name="caSubject" id="request-certificate_caSubject"><option value="-1">Please Select</option>{options}</select>
<input type="submit" id="request-certificate_0" value="Request certificate"/></div>
</form>"""
    return page(vo, "requestCertificate", body)


def _requester(req: Request, vo: str) -> tuple[Any, Response | None]:
    if req.client is None:
        return None, no_client(vo)
    with req.app.ctx.db() as db:
        u = member(db, vo, req.client.dn, req.client.issuer)
    if u is None:
        return None, Response.redirect(f"/voms/{vo}/register/start.action")
    if vo in req.app.ctx.settings.disabled_vos:  # execute(): registration disabled, no request taken
        return None, disabled_page(vo)
    return u, None


def show_form(req: Request) -> Response:
    vo = vo_of(req)
    u, refused = _requester(req, vo)
    return refused if refused is not None else form_page(req, vo, uid=u["id"])


def _read_upload(data: bytes) -> tuple[str, str] | None:
    from cryptography import x509

    from onboard.pki.names import oneline

    if len(data) > MAX_UPLOAD:
        return None
    try:
        cert = x509.load_pem_x509_certificate(data)
        return oneline(cert.subject), oneline(cert.issuer)
    except (ValueError, TypeError):
        return None


def submit(req: Request) -> Response:
    vo = vo_of(req)
    u, refused = _requester(req, vo)
    if refused is not None:
        return refused
    fields, upload = multipart(req)
    if "method:input" in fields:  # the home page's "Add an additional certificate" button
        return form_page(req, vo, uid=u["id"])
    expected = req.session(f"/voms/{vo}").pop("struts.token", None)
    if not fields.get("token") or fields.get("token") != expected:
        return form_page(req, vo, [INVALID_TOKEN], fields, u["id"])
    ctx = req.app.ctx
    if upload:
        parsed = _read_upload(upload)
        if parsed is None:
            return form_page(req, vo, ["Error parsing certificate passed as argument. Please upload a valid "
                                       "X509, PEM encoded certificate."], fields, u["id"])
        subject, issuer = parsed
    else:
        subject = (fields.get("subject") or "").strip().replace("\n", "").replace("\r", "")
        issuer = fields.get("caSubject") or "-1"
        if not subject or issuer == "-1" or issuer not in trusted_cas(ctx):
            return form_page(req, vo, [NEITHER], fields, u["id"])
        if any(c in subject for c in "<>&;"):
            return form_page(req, vo, ["The subject field name contains illegal characters!"], fields, u["id"])
    now = ctx.now()
    with ctx.db() as db:
        if _bound(db, vo, subject, issuer):
            return form_page(req, vo, [BOUND], fields, u["id"])
        if _pending(db, u["id"], subject, issuer):
            return form_page(req, vo, [PENDING], fields, u["id"])
        cur = db.execute(
            "INSERT INTO cert_req (vo, usr_id, status, subject, issuer, creation_date, expiration_date) "
            "VALUES (?,?,?,?,?,?,?)",
            (vo, u["id"], "SUBMITTED", subject, issuer, now, now + ctx.settings.request_lifetime))
        row = db.execute("SELECT * FROM cert_req WHERE request_id=?", (cur.lastrowid,)).fetchone()
        ctx.event(db, "certificate-submitted", vo, row["request_id"], f"{subject} for {req.client.dn}")
    _mail_handle(ctx, row, u, req.client, req.app)
    return Response.redirect(f"/voms/{vo}/user/home.action")


def certificates_pane(ctx: SandboxContext, vo: str, uid: int) -> str:
    """The home page's certificate pane (p/user/certificateRequest.jsp): the member's certificates, the
    pending requests "(Waiting for approval)", and the form whose button leads to the request form."""
    with ctx.db() as db:
        certs = db.execute("SELECT * FROM certificate WHERE usr_id=? ORDER BY id", (uid,)).fetchall()
        pending = db.execute("SELECT * FROM cert_req WHERE usr_id=? AND status='SUBMITTED' ORDER BY request_id",
                             (uid,)).fetchall()
    rows = "".join(f'<tr class="tableRow"><td><div class="userDN">{escape(c["subject"])}</div>'
                   f'<div class="userCA">{escape(c["issuer"])}</div></td></tr>' for c in certs)
    rows += "".join(f'<tr class="tableRow"><td><div class="waitingForApproval" style="float: right">(Waiting '
                    f'for approval)</div><div class="requestedDN">{escape(r["subject"])}</div>'
                    f'<div class="requestedCA">{escape(r["issuer"])}</div></td></tr>' for r in pending)
    button = "" if vo in ctx.settings.disabled_vos else (  # <s:if test="#attr.registrationEnabled">
        f'<form id="request-certificate" action="/voms/{escape(vo)}/user/request-certificate.action" '
        f'method="POST"><input type="hidden" name="userId" value="{uid}"/>'
        f'<input type="submit" name="method:input" value="Add an additional certificate"/></form>')
    return (f'<div class="info-tab"><h2><span>Certificates</span></h2><div class="reloadable">'
            f'<table><tr><th colspan="2">Certificate</th></tr>{rows}</table>{button}</div></div>')


# -- the administrator's side ------------------------------------------------------------------------------

def pending(ctx: SandboxContext, vo: str | None = None) -> list[dict[str, Any]]:
    ensure(ctx)
    with ctx.db() as db:
        q = ("SELECT r.*, u.email, c.subject AS member_subject, c.issuer AS member_issuer FROM cert_req r "
             "JOIN usr u ON u.id = r.usr_id JOIN certificate c ON c.id = (SELECT MIN(id) FROM certificate "
             "WHERE usr_id = u.id)" + (" WHERE r.vo=?" if vo else "") + " ORDER BY r.request_id")
        return [dict(r) for r in db.execute(q, (vo,) if vo else ())]


def _decidable(ctx: SandboxContext, request_id: int) -> dict[str, Any]:
    row = next((r for r in pending(ctx) if r["request_id"] == request_id), None)
    if row is None:
        raise SandboxError(f"no certificate request {request_id}.",
                           "See `onboard sandbox cert-requests` for the requests waiting.")
    if row["status"] != "SUBMITTED":
        raise SandboxError(f"certificate request {request_id} is {row['status']}, it cannot be decided.",
                           "Only SUBMITTED requests can be approved or rejected.")
    return row


def approve(ctx: SandboxContext, request_id: int, approver: str = "instructor") -> dict[str, Any]:
    """HandleCertificateRequestOperation.approve: the certificate joins the member's (no new member)."""
    from onboard.sandbox.voms_admin.hook import run_hook

    row = _decidable(ctx, request_id)
    with ctx.db() as db:
        if _bound(db, row["vo"], row["subject"], row["issuer"]):
            raise SandboxError(f"{row['subject']} is bound to a member of {row['vo']} already.",
                               f"Reject certificate request {request_id} instead.")
    # the voms-server first: a failed hook leaves the request waiting, nothing half-done
    run_hook(ctx, {**row, "name": "", "surname": ""},
             extra_env={"ONBOARD_MEMBER_DN": row["member_subject"], "ONBOARD_MEMBER_CA_DN": row["member_issuer"]})
    now = ctx.now()
    with ctx.db() as db:
        n = db.execute("UPDATE cert_req SET status='APPROVED', completion_date=?, approver=? WHERE request_id=? "
                       "AND status='SUBMITTED'", (now, approver, request_id)).rowcount
        if n == 0:
            raise SandboxError(f"certificate request {request_id} changed meanwhile.",
                               "See `onboard sandbox cert-requests`.")
        db.execute("INSERT INTO certificate (usr_id, subject, issuer, creation_time) VALUES (?,?,?,?)",
                   (row["usr_id"], row["subject"], row["issuer"], now))
        ctx.event(db, "certificate-approved", row["vo"], request_id, f"{row['subject']} by {approver}")
    vo = row["vo"]
    send(ctx, row["email"], f"{PREFIX} Your certificate request for VO {vo} has been approved.",
         f"Dear {row['email']}, \n\nyour certificate request for VO {vo}\nhas been approved.\n\n"
         f"The following certificate:\n\nsubject: {row['subject']}\nissuer: {row['issuer']}\n\n"
         f"is now active for your VOMS membership.\n\nYour sincerely,\n"
         f"The Voms-Admin registration service for VO {vo}")
    return row | {"status": "APPROVED"}


def reject(ctx: SandboxContext, request_id: int, approver: str = "instructor") -> dict[str, Any]:
    row = _decidable(ctx, request_id)
    with ctx.db() as db:
        db.execute("UPDATE cert_req SET status='REJECTED', completion_date=?, approver=? WHERE request_id=?",
                   (ctx.now(), approver, request_id))
        ctx.event(db, "certificate-rejected", row["vo"], request_id, f"{row['subject']} by {approver}")
    vo = row["vo"]
    send(ctx, row["email"], f"{PREFIX} Your certificate request for VO {vo} has been rejected.",
         f"Dear {row['email']}, \n\n\nyour certificate request for certificate:\n\n\tSubject: {row['subject']}"
         f"\n\tIssuer: {row['issuer']}\n\nhas been REJECTED by the VO administrators.\n\n \n\n"
         f"Your sincerely,\nVoms-Admin registration service for VO {vo}")
    return row | {"status": "REJECTED"}


def _mail_handle(ctx: SandboxContext, row: Any, u: Any, client: Any, app: App | None) -> None:
    """HandleRequest.vm for a CertificateRequest, to the VO administrators."""
    vo = row["vo"]
    personal = "".join(f"\t{label}: {u[key]}\n" for label, key in (
        ("Name", "name"), ("Family name", "surname"), ("Institution", "institution"), ("Address", "address"),
        ("Phone number", "phone")) if u[key])
    body = (f"Dear VO Admin,\n\nas VO administrator of VO {vo}, your authorization is requested for the\n"
            f"following certificate request issued by the following user:\n\nUser Certificate information:\n\n"
            f"\tSubject: {client.dn}\n\tIssuer:  {client.issuer}\n\t\nPersonal information:\n\n{personal}\n"
            f"\tEmail: {u['email']}\n\n\nThe above user has requested that the certificate:\n\n"
            f"\tSubject: {row['subject']}\n\tIssuer: {row['issuer']}\n\t\n"
            f"is added to the list of valid certificates for the user.\n\nIn order to handle this request, point "
            f"your browser\nto the following URL:\n\n{base_url(ctx, vo, app)}/home/login.action\n"
            f"(in the sandbox: `onboard sandbox cert-approve {row['request_id']}`)\n\nYour sincerely,\n"
            f"The Voms-Admin registration service for VO {vo}")
    send(ctx, ctx.settings.admin, f"{PREFIX} A certificate request for VO {vo} requires your approval.", body)


def install(app: App) -> None:
    app.schema(SCHEMA)
    for vo in app.ctx.settings.vos:
        b = f"/voms/{vo}/user"
        app.route("GET", f"{b}/request-certificate!input.action", show_form)
        app.route("GET", f"{b}/request-certificate.action", show_form)
        app.route("POST", f"{b}/request-certificate.action", submit)
