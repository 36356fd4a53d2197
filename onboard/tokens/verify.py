"""Is this access token one the VO's issuer gave for a member of the VO? (WLCG Common JWT Profiles 1.0)

The issuer's keys come from its discovery document's `jwks_uri` over verified TLS (the grid trust
anchors and the system's), and only from the issuer's own server. Each reason for a refusal has its own
message and exit code (onboard/errors.py: TOKEN_*), checked in this order: signature, issuer, time, group.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from onboard.errors import Exit, OnboardError

SKEW = 60  # seconds of clock difference forgiven, as token libraries do


class TokenRefused(OnboardError):
    default_hint = "Get a fresh token with `oidc-token ACCOUNT`, or run `onboard tokens --vo VO` again."


def same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _get_json(url: str, context: ssl.SSLContext) -> Any:
    try:
        with urllib.request.urlopen(url, context=context, timeout=30) as resp:
            return json.loads(resp.read(1 << 20))
    except ssl.SSLError as e:
        raise OnboardError(
            f"TLS with {urlsplit(url).netloc} failed: {e.reason}.",
            "Check the trust anchors (`onboard trust`).",
            exit_code=Exit.TLS,
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or type(e).__name__
        raise OnboardError(
            f"{url} could not be read: {reason}.",
            "Check the network and the VO's token_issuer.",
            exit_code=Exit.NETWORK,
        ) from None


def issuer_keys(issuer: str, context: ssl.SSLContext) -> KeySet:
    doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", context)
    if not isinstance(doc, dict) or not same_issuer(str(doc.get("issuer", "")), issuer):
        raise OnboardError(
            f"{issuer} publishes a discovery document for another issuer.",
            "Check the VO's token_issuer in the catalog.",
            exit_code=Exit.SERVER,
        )
    jwks_uri = str(doc.get("jwks_uri", ""))
    if urlsplit(jwks_uri)[:2] != urlsplit(issuer)[:2]:  # keys only from the issuer's own server
        raise OnboardError(
            f"{issuer}'s jwks_uri {jwks_uri!r} is not on the issuer's server.",
            "Ask the VO's IAM administrators.",
            exit_code=Exit.SERVER,
        )
    try:
        return KeySet.import_key_set(_get_json(jwks_uri, context))
    except (JoseError, ValueError, TypeError, KeyError):
        raise OnboardError(
            f"{jwks_uri} is not a JWK set.", "Ask the VO's IAM administrators.", exit_code=Exit.SERVER
        ) from None


def check(token: str, *, issuer: str, vo: str, keys: KeySet, now: float) -> dict[str, Any]:
    """The token's claims when it passes; TokenRefused with the first reason it does not."""
    try:
        claims = jwt.decode(
            token.strip(), keys, algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
        ).claims
    except (JoseError, ValueError) as e:
        raise TokenRefused(
            f"the token is not signed by a key of {issuer} ({type(e).__name__}).",
            "It came from somewhere else: get a token from the VO's issuer.",
            exit_code=Exit.TOKEN_SIGNATURE,
        ) from None
    got = str(claims.get("iss", ""))
    if not same_issuer(got, issuer):
        raise TokenRefused(
            f"the token was issued by {got!r}, not by {vo}'s issuer {issuer}.",
            f"Use the oidc-agent account of {issuer}.",
            exit_code=Exit.TOKEN_ISSUER,
        )
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)) or exp + SKEW < now:
        raise TokenRefused("the token has expired.", exit_code=Exit.TOKEN_EXPIRED)
    if isinstance(nbf, (int, float)) and nbf - SKEW > now:
        raise TokenRefused(
            "the token is not valid yet (check this machine's clock).", exit_code=Exit.TOKEN_EXPIRED
        )
    groups = claims.get("wlcg.groups")
    if not isinstance(groups, list) or f"/{vo}" not in groups:
        shown = ", ".join(map(str, groups)) if isinstance(groups, list) else "none"
        raise TokenRefused(
            f"the token's wlcg.groups ({shown}) do not include /{vo}: its account is not a member of {vo}.",
            f"Log in with your {vo} account, and ask for the scope wlcg.groups.",
            exit_code=Exit.TOKEN_GROUP,
        )
    return claims


def tls_context(trust: Path | None) -> ssl.SSLContext:
    from onboard.adapters.https import server_context

    return server_context(trust, system_roots=True)
