"""The sandbox IAM's token signing key: one RSA key in the CA's private directory, served as a JWKS.

IAM signs with a key of its JWK set (`/jwk`, IamJWKSetPublishingEndpoint); the sandbox makes one on first
use, beside the CA's other private keys (0600), and names it by its RFC 7638 thumbprint (the `kid`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import TYPE_CHECKING, Any

from joserfc import jwk

from onboard.atomicfile import write_new

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext

_LOCK = threading.Lock()
KEY_FILE = "oidc-signing.jwk"


def signing_key(ctx: SandboxContext) -> jwk.RSAKey:
    ctx.ca.ensure()
    path = ctx.ca.private / KEY_FILE
    with _LOCK:
        if not path.exists():
            key = jwk.RSAKey.generate_key(2048, private=True)
            data = key.as_dict(private=True)
            data["kid"] = key.thumbprint()
            # whole in a file of its own first, then linked in: a crash or a second process never
            # leaves a torn key, and the first key made stays the key
            tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
            tmp.unlink(missing_ok=True)
            write_new(tmp, json.dumps(data).encode(), 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            tmp.unlink()
        return jwk.RSAKey.import_key(json.loads(path.read_text()))


def jwks(ctx: SandboxContext) -> dict[str, Any]:
    public = signing_key(ctx).as_dict(private=False)
    return {"keys": [{**public, "use": "sig", "alg": "RS256"}]}
