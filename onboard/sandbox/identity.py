"""Who a sandbox server sees on the other end of a TLS connection. Below both the web plumbing (web.py,
which hands it to handlers) and the DN parsing (dn.py, which makes it from a certificate)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClientIdentity:
    """Who is on the other end of the TLS connection, the way VOMS-Admin sees it (OpenSSL slash DNs).

    For an RFC 3820 proxy, the end-entity certificate's subject and issuer (as VOMS-Admin does).
    """

    dn: str
    issuer: str
    email: str | None
    der: bytes
    is_proxy: bool = False
