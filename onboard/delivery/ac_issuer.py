"""Who really signed the attribute certificate when voms-proxy-init refuses it ("Cannot verify AC
signature!": the LSC in use names another server DN or CA). voms-proxy-init still writes the proxy, and
`voms-proxy-info -all` shows the AC's issuer and the server's address; the CA of that server's
certificate comes from a TLS handshake with it, made on the submit host (openssl s_client), since the
VOMS server may only be reachable from there."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from onboard.delivery import scripts

if TYPE_CHECKING:
    from onboard.adapters.ssh import Connection

MISMATCH = ("cannot verify ac signature", "lsc")
_URI = re.compile(r"^([A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$")


def is_mismatch(message: str) -> bool:
    low = message.lower()
    return any(k in low for k in MISMATCH)


def from_output(output: str, vo: str) -> tuple[str, str]:
    """(the AC's issuer DN, the server's host:port) from voms-proxy-info -all's block for `vo`."""
    issuer = uri = ""
    inside = False
    for line in output.splitlines():
        if line.startswith("=== VO "):
            inside = line.strip() == f"=== VO {vo} extension information ==="
            continue
        key, sep, value = line.partition(":")
        if inside and sep:
            if key.strip() == "issuer" and not issuer:
                issuer = value.strip()
            elif key.strip() == "uri" and not uri:
                uri = value.strip()
    return issuer, uri


def server_ca(conn: Connection, uri: str) -> str:
    """The issuer of the certificate the VOMS server at `uri` presents, seen from the submit host."""
    m = _URI.match(uri)
    if not m or not 0 < int(m.group(2)) < 65536:
        return ""
    script = (
        f"openssl s_client -connect {m.group(1)}:{m.group(2)} </dev/null 2>/dev/null | "
        "openssl x509 -noout -issuer -nameopt compat 2>/dev/null"
    )
    try:
        out = conn.run(scripts.command(script), timeout=30).out
    except Exception:  # the explanation is a bonus: the error it adds to stands without it
        return ""
    for line in out.splitlines():
        if line.startswith("issuer="):
            return line.partition("=")[2].strip()
    return ""


def explain(conn: Connection, output: str, vo: str, used: list[tuple[str, list[str]]]) -> str:
    """'the AC was signed by DN X (CA Y); <lsc> says DN A (CA B)', or '' when the output does not tell."""
    issuer, uri = from_output(output, vo)
    if not issuer:
        return ""
    ca = server_ca(conn, uri) if uri else ""
    said = "; ".join(f"{path} says DN {dns[0]} (CA {dns[1] if len(dns) > 1 else '?'})" for path, dns in used)
    return f"the AC was signed by DN {issuer} (CA {ca or 'unknown'})" + (f", but {said}" if said else "")
