"""Orientation sessions: a trainee's onboard tells the instructor's board where it stands after each run.

Only when the journey uses a sandbox over its portal (ca.provider = "sandbox" with ca.portal_url, as
`onboard sandbox join` configures it). One small POST to the sandbox, TLS verified against the trust
directory; best effort (a 3-second timeout, never an error for the trainee). What is sent is what
`onboard status` shows: the state, what it waits for, the last error, the certificate's subject DN and the
e-mail address. Never a secret.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import urlsplit


def payload(cfg: Any, record: Any) -> dict[str, Any]:
    waits = {k: w for k, w in record.waits.items()}
    err = record.last_error
    states = record.states()
    return {
        "subject": record.artifacts.certificate.subject_dn,
        "email": cfg.user.email,
        "vo": record.vo,
        "state": states,
        "done": states == ["done"],
        "waiting_for": "; ".join(w.what for w in waits.values()),
        "since": max((w.since for w in waits.values()), default=record.updated).isoformat(),
        "last_error": f"{err.step}: {err.message}" if err else "",
    }


def send(cfg: Any, record: Any, timeout: float = 3.0) -> bool:
    if getattr(cfg.ca, "provider", "") != "sandbox" or not getattr(cfg.ca, "portal_url", ""):
        return False
    with contextlib.suppress(Exception):  # the board is a convenience: never fail the trainee's run for it
        import http.client
        import ssl

        from onboard.pki import trustdirs

        where = trustdirs.find(trustdirs.configured(cfg))
        if where is None:
            return False
        parts = urlsplit(cfg.ca.portal_url)
        tls = ssl.create_default_context(capath=str(where.path))
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, context=tls,
                                           timeout=timeout)
        try:
            from onboard.sandbox.seats import headers_for

            conn.request("POST", "/onboard/report", body=json.dumps(payload(cfg, record)),
                         headers={"Content-Type": "application/json", **headers_for(cfg.ca.seat_token_file)})
            return conn.getresponse().status == 200
        finally:
            conn.close()
    return False
