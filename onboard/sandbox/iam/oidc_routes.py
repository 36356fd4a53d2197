"""The sandbox IAM as an OpenID Connect issuer, at the paths of IAM's login service (below /iam/<vo>/).

    GET  /.well-known/openid-configuration   IamWellKnownInfoProvider's document (issuer with a slash)
    GET  /jwk                                the JWK set (IamJWKSetPublishingEndpoint)
    POST /iam/api/client-registration        dynamic registration (ClientRegistrationApiController), 201
    POST /devicecode                         device authorization (IamDeviceEndpointController)
    GET  /device, POST /device/verify|approve  the verification page (oidc_device_page.py)
    POST /token                              device_code and refresh_token grants
    GET  /userinfo                           the account's claims for a bearer access token

Clients authenticate with client_secret_basic or client_secret_post, as IAM's token endpoint allows.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from joserfc import jwt
from joserfc.errors import JoseError

from onboard.sandbox.iam import oidc_device_page, oidc_model, oidc_tokens
from onboard.sandbox.iam.oidc_keys import jwks, signing_key
from onboard.sandbox.web import Response

if TYPE_CHECKING:
    from onboard.sandbox.web import Request

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPES = ["openid", "profile", "email", "address", "phone", "offline_access", "wlcg", "wlcg.groups"]
GRANT_TYPES = ["authorization_code", "refresh_token", DEVICE_GRANT]
REGISTRATION = "/iam/api/client-registration"


def handle(req: Request, vo: str, rest: str, base: str) -> Response | None:
    """The answer for an OIDC path of this VO's IAM, or None when `rest` is not one."""
    m = req.method
    if m == "GET" and rest == "/.well-known/openid-configuration":
        return Response.json(discovery(base))
    if m == "GET" and rest == "/jwk":
        return Response.json(jwks(req.app.ctx))
    if m == "POST" and rest == REGISTRATION:
        return register(req, vo)
    if m == "POST" and rest == "/devicecode":
        return device_authorization(req, vo, base)
    if rest == "/device" or rest.startswith("/device/"):
        return oidc_device_page.handle(req, vo, rest, base)
    if m == "POST" and rest == "/token":
        return token(req, vo, base)
    if m in ("GET", "POST") and rest == "/userinfo":
        return userinfo(req, vo, base)
    return None


def discovery(base: str) -> dict:
    return {
        "issuer": oidc_tokens.issuer(base),
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwk",
        "registration_endpoint": f"{base}{REGISTRATION}",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/revoke",
        "device_authorization_endpoint": f"{base}/devicecode",
        "response_types_supported": ["code", "token"],
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": [
            "sub",
            "name",
            "preferred_username",
            "given_name",
            "family_name",
            "email",
            "email_verified",
            "organisation_name",
            "groups",
            "wlcg.groups",
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "scopes_supported": SCOPES,
    }


def _error(error: str, description: str, status: int = 400) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


def register(req: Request, vo: str) -> Response:
    try:
        data = req.json() or {}
    except ValueError:
        return _error("invalid_request", "malformed JSON")
    if not isinstance(data, dict):
        return _error("invalid_request", "malformed JSON")
    wanted = str(data.get("scope") or "openid profile email").split()
    scope = " ".join(s for s in wanted if s in SCOPES)  # IAM keeps the system scopes a client may have
    grants = [g for g in (data.get("grant_types") or ["authorization_code"]) if g in GRANT_TYPES]
    name = str(data.get("client_name") or "")[:256]
    creds = oidc_model.register_client(req.app.ctx, vo, name, scope, grants)
    req.app.ctx.log(f"iam {vo}: client {creds['client_id']} registered ({name})")
    return Response.json(
        {
            **creds,
            "client_name": name,
            "client_secret_expires_at": 0,
            "client_id_issued_at": int(req.app.ctx.now()),
            "grant_types": grants,
            "scope": scope,
            "redirect_uris": data.get("redirect_uris") or [],
            "response_types": data.get("response_types") or ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        201,
    )


def _client(req: Request, vo: str):
    """The authenticated client: HTTP Basic (form-encoded id and secret, RFC 6749 §2.3.1) or the form."""
    auth = req.headers.get("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except ValueError:
            return None
        return oidc_model.client(req.app.ctx, vo, unquote(cid), unquote(secret))
    return oidc_model.client(req.app.ctx, vo, req.param("client_id") or "", req.param("client_secret"))


def device_authorization(req: Request, vo: str, base: str) -> Response:
    client = _client(req, vo)
    if client is None:
        return _error("invalid_client", "Bad client credentials", 401)
    if DEVICE_GRANT not in client["grant_types"].split():
        return _error("unauthorized_client", "This client may not use the device code flow")
    asked = (req.param("scope") or client["scope"]).split()
    if not set(asked) <= set(client["scope"].split()):
        return _error(
            "invalid_scope", f"One or more requested scope is not allowed for client '{client['client_id']}'"
        )
    code = oidc_model.new_device_code(req.app.ctx, vo, client["client_id"], " ".join(asked))
    page = f"{oidc_tokens.issuer(base)}device"
    return Response.json(
        {
            **code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={quote(code['user_code'])}",
        }
    )


def token(req: Request, vo: str, base: str) -> Response:
    ctx = req.app.ctx
    client = _client(req, vo)
    if client is None:
        return _error("invalid_client", "Bad client credentials", 401)
    grant = req.param("grant_type") or ""
    if grant not in client["grant_types"].split():
        return _error("unauthorized_client", f"Unauthorized grant type: {grant}")
    if grant == DEVICE_GRANT:
        code = req.param("device_code") or ""
        with ctx.db() as db:
            row = db.execute(
                "SELECT * FROM oidc_device WHERE device_code=? AND client_id=? AND vo=?",
                (code, client["client_id"], vo),
            ).fetchone()
            if row is None:
                return _error("invalid_grant", f"Invalid device code: {code}")
            if row["expires"] < ctx.now():
                return _error("expired_token", f"Device code has expired: {code}")
            if row["status"] == "denied":
                db.execute("DELETE FROM oidc_device WHERE device_code=?", (code,))
                return _error("access_denied", "The user denied the request")
            if row["status"] == "pending":
                too_soon = ctx.now() - row["last_poll"] < 1  # a client polling in a loop, not at an interval
                db.execute("UPDATE oidc_device SET last_poll=? WHERE device_code=?", (ctx.now(), code))
                if too_soon:
                    return _error("slow_down", "Polling too often")
                return _error("authorization_pending", f"Authorization pending for code: {code}")
            db.execute("DELETE FROM oidc_device WHERE device_code=?", (code,))  # used once
        username, scope = row["username"], row["scope"]
    elif grant == "refresh_token":
        row = oidc_model.refresh_grant(ctx, client["client_id"], vo, req.param("refresh_token") or "")
        if row is None:
            return _error("invalid_grant", "Invalid refresh token")
        username, scope = row["username"], row["scope"]
        asked = (req.param("scope") or scope).split()
        if not set(asked) <= set(scope.split()):
            return _error("invalid_scope", "Up-scoping is not allowed.")
        scope = " ".join(asked)
    else:
        return _error("unsupported_grant_type", f"Unsupported grant type: {grant}")
    account = oidc_model.active_account(ctx, vo, username)
    if account is None:  # suspended or removed since the approval
        return _error("invalid_grant", "The account is not active")
    iss = oidc_tokens.issuer(base)
    answer = {
        "access_token": oidc_tokens.access_token(ctx, iss, account, client["client_id"], scope),
        "token_type": "Bearer",
        "expires_in": oidc_tokens.ACCESS_TOKEN_SECONDS - 1,
        "scope": scope,
    }
    if "openid" in scope.split():
        answer["id_token"] = oidc_tokens.id_token(ctx, iss, account, client["client_id"])
    if grant == DEVICE_GRANT and "offline_access" in scope.split():
        answer["refresh_token"] = oidc_model.new_refresh_token(ctx, client["client_id"], vo, username, scope)
    elif grant == "refresh_token":
        answer["refresh_token"] = req.param("refresh_token")  # IAM keeps the refresh token (not rotated)
    ctx.log(f"iam {vo}: tokens for {username} to client {client['client_id']} ({grant})")
    return Response.json(answer)


def userinfo(req: Request, vo: str, base: str) -> Response:
    auth = req.headers.get("Authorization") or ""
    bad = Response.json({"error": "invalid_token"}, 401)
    bad.headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
    if not auth.lower().startswith("bearer "):
        return bad
    ctx = req.app.ctx
    try:
        tok = jwt.decode(auth[7:].strip(), signing_key(ctx), algorithms=["RS256"])
    except (JoseError, ValueError):
        return bad
    claims = tok.claims
    if claims.get("iss") != oidc_tokens.issuer(base) or float(claims.get("exp", 0)) < ctx.now():
        return bad
    with ctx.db() as db:
        account = db.execute(
            "SELECT * FROM iam_request WHERE vo=? AND uuid=? AND active=1", (vo, str(claims.get("sub")))
        ).fetchone()
    if account is None:
        return bad
    return Response(
        json.dumps(oidc_tokens.userinfo(account, str(claims.get("scope", "")))),
        200,
        content_type="application/json;charset=UTF-8",
    )
