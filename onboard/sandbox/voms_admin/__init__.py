"""VOMS-Admin emulation: the registration web application of each sandbox VO, as VOMS-Admin 3.x serves it.

Routes (listener "voms": client certificate required in the TLS handshake), relative to /voms/<vo>:

    register/index.action           -> redirect to register/start.action
    register/start.action           the form, or the page of the requester's state (waits-confirmation,
                                    limbo, disabled), or a redirect to /user/home.action for a member
    register/submit-request.action  Struts token + JSESSIONID, the same fields, rules and messages
    register/confirm-request.action?requestId=&confirmationId=      (chains to set-request-confirmed)
    register/cancel-request.action?requestId=&confirmationId=
    user/home.action, home/login.action
    apiv2/user-info.action?dn=&ca= | userId=  (header X-VOMS-CSRF-GUARD; 404 "User not found")
    apiv2/users.action, apiv2/user-stats.action
    configuration/configuration.action      the VO's vomses line and LSC
    sign-aup -> aup/sign.action     a member signs the AUP again (the "Request to sign" mail's link)

Requests: SUBMITTED -> CONFIRMED -> APPROVED, or REJECTED (the row is then deleted); SUBMITTED requests
past their expiration date are deleted (with the "expired" e-mail). The instructor's side is the
functions (admin.py) `requests()`, `approve()`, `reject()`, `purge_expired()`, `auto_approve()` (also used by
`onboard sandbox approve|reject|requests`, which work on the database whether or not the server runs).

Modules: pages (templates), form (the form's checks), model (the SQL model), links (e-mail links, vomses,
LSC), mails, routes (request handlers and the route table), api (apiv2 JSON), admin (the instructor's
actions), hook (the on-approval command), lapses (the second year: end dates, AUP re-sign tasks,
suspensions, the membership check; the status-change command), sign_aup (the member's AUP page).
"""

from __future__ import annotations

from onboard.sandbox.voms_admin.admin import (
    ApprovalBusy,
    approve,
    auto_approve,
    purge_expired,
    reject,
)
from onboard.sandbox.voms_admin.hook import HookFailed
from onboard.sandbox.voms_admin.links import lsc, request_url, vomses_line
from onboard.sandbox.voms_admin.model import members, requests
from onboard.sandbox.voms_admin.routes import install

__all__ = [
    "ApprovalBusy",
    "HookFailed",
    "approve",
    "auto_approve",
    "install",
    "lsc",
    "members",
    "purge_expired",
    "reject",
    "request_url",
    "requests",
    "vomses_line",
]
