"""The sandbox IAM's tokens: WLCG-profile access tokens and OIDC ID tokens, JWTs signed RS256 (joserfc).

Claims as IAM's WLCG profile writes them (WLCG Common JWT Profiles 1.0): `wlcg.ver` "1.0", `wlcg.groups`
only when the `wlcg.groups` scope was granted, `aud` the profile's "any" audience unless one was asked for.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from joserfc import jwt

from onboard.sandbox.iam.oidc_keys import signing_key

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext

ACCESS_TOKEN_SECONDS = 3600  # IAM's default access token validity
ANY_AUDIENCE = "https://wlcg.cern.ch/jwt/v1/any"


def issuer(base: str) -> str:
    """IAM's issuer ends with a slash (IamWellKnownInfoProvider.getIssuerWithTrailingSlash)."""
    return base.rstrip("/") + "/"


def groups(vo: str) -> list[str]:
    # the sandbox's IAM knows one group per VO, the VO's root group
    return [f"/{vo}"]


def sign(ctx: SandboxContext, claims: dict[str, Any], key=None) -> str:
    key = key or signing_key(ctx)
    return jwt.encode({"alg": "RS256", "kid": key.kid or key.thumbprint(), "typ": "JWT"}, claims, key)


def access_token(
    ctx: SandboxContext,
    iss: str,
    account: Any,
    client_id: str,
    scope: str,
    *,
    lifetime: int = ACCESS_TOKEN_SECONDS,
    group_list: list[str] | None = None,
) -> str:
    now = int(ctx.now())
    claims: dict[str, Any] = {
        "wlcg.ver": "1.0",
        "sub": account["uuid"],
        "aud": ANY_AUDIENCE,
        "nbf": now,
        "scope": scope,
        "iss": iss,
        "exp": now + lifetime,
        "iat": now,
        "jti": secrets.token_hex(16),
        "client_id": client_id,
    }
    if "wlcg.groups" in scope.split():
        claims["wlcg.groups"] = group_list if group_list is not None else groups(account["vo"])
    return sign(ctx, claims)


def id_token(ctx: SandboxContext, iss: str, account: Any, client_id: str) -> str:
    now = int(ctx.now())
    return sign(
        ctx,
        {
            "sub": account["uuid"],
            "aud": client_id,
            "iss": iss,
            "iat": now,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "jti": secrets.token_hex(16),
            "preferred_username": account["username"],
            "name": f"{account['givenname']} {account['familyname']}",
            "email": account["email"],
        },
    )


def userinfo(account: Any, scope: str) -> dict[str, Any]:
    info: dict[str, Any] = {"sub": account["uuid"]}
    if "profile" in scope.split():
        info.update(
            preferred_username=account["username"],
            name=f"{account['givenname']} {account['familyname']}",
            given_name=account["givenname"],
            family_name=account["familyname"],
            organisation_name=account["vo"],
        )
    if "email" in scope.split():
        info.update(email=account["email"], email_verified=True)
    if "wlcg.groups" in scope.split():
        info["wlcg.groups"] = groups(account["vo"])
    return info
