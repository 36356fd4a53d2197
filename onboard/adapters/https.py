"""HTTPS with the user's certificate: one requests Session per registration server per run.

The client key is loaded from the *encrypted* key file straight into an in-memory `ssl.SSLContext`
(`load_cert_chain(..., password=...)`): the decrypted key never touches disk. The server is verified
against the grid trust anchors (a CApath directory of `<hash>.0` files), never against nothing.
Every request has a timeout; connection errors and 5xx answers are retried with a backoff (a request
that is not idempotent only when it cannot have reached the server, or when the server answered 503/429
with a Retry-After: it says it did not handle it). TLS failures become one-line
errors that say which side refused and why.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from onboard.errors import CredentialError, Exit, OnboardError

if TYPE_CHECKING:
    import requests

    from onboard.config import Config

RETRY_STATUSES = frozenset({500, 502, 503, 504})


class TLSError(OnboardError):
    exit_code = Exit.TLS


class NetworkError(OnboardError):
    exit_code = Exit.NETWORK
    default_hint = "Check the network and the server's address; `onboard resume` tries again."


def trust_dir(cfg: Config | None = None, environ: dict[str, str] | None = None) -> Path:
    """The grid trust directory to verify servers against (a missing configured one is an error)."""
    from onboard.pki import trustdirs

    return trustdirs.require(trustdirs.configured(cfg), environ, error=TLSError)


@dataclass
class ClientIdentity:
    """The user's certificate (with its chain) and encrypted key, and how to get the passphrase."""

    cert: Path
    key: Path
    passphrase: Callable[[], str]
    chain: Path | None = None


def server_context(trust: Path | None, *, system_roots: bool = False) -> ssl.SSLContext:
    """A client-side context that verifies the server (hostname and chain) against `trust`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if trust is not None:
        if trust.is_dir():
            ctx.load_verify_locations(capath=str(trust))
        else:
            ctx.load_verify_locations(cafile=str(trust))
    if system_roots or trust is None:
        ctx.load_default_certs()
    return ctx


def client_context(
    identity: ClientIdentity | None, trust: Path | None, *, system_roots: bool = False
) -> ssl.SSLContext:
    ctx = server_context(trust, system_roots=system_roots)
    if identity is not None:
        load_identity(ctx, identity)
    return ctx


def load_identity(ctx: ssl.SSLContext, identity: ClientIdentity) -> None:
    """Load certificate and encrypted key into the context; the passphrase goes to OpenSSL in memory."""
    for what, path in (("certificate", identity.cert), ("key", identity.key)):
        if not Path(path).is_file():
            raise CredentialError(
                f"the {what} file {path} does not exist.",
                "Run the convert step first (`onboard resume`), or fix credentials.dir.",
            )
    certfile, tmp = _with_chain(identity.cert, identity.chain)

    def password() -> bytes:
        return identity.passphrase().encode()

    try:
        ctx.load_cert_chain(certfile, str(identity.key), password=password)
    except ssl.SSLError as e:
        raise _diagnose_identity(identity, e) from None
    finally:
        if tmp:
            os.unlink(tmp)


def _diagnose_identity(identity: ClientIdentity, err: ssl.SSLError) -> CredentialError:
    """OpenSSL says only "PEM lib": find out (in memory) whether passphrase, pairing or file is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(
            Path(identity.key).read_bytes(), identity.passphrase().encode() or None
        )
    except TypeError:  # not encrypted, or a passphrase for an unencrypted key
        key = None
    except ValueError as e:
        if "password" in str(e).lower() or "decrypt" in str(e).lower():
            return CredentialError(
                f"wrong passphrase for the key {identity.key}.",
                "Give the passphrase you chose when the key was made (--passphrase-file).",
                exit_code=Exit.WRONG_PASSPHRASE,
            )
        return CredentialError(
            f"the key {identity.key} cannot be read: {e}.",
            "Check that it is a PEM private key (onboard convert makes one).",
        )
    try:
        cert = x509.load_pem_x509_certificate(Path(identity.cert).read_bytes())
    except ValueError:
        return CredentialError(
            f"the certificate {identity.cert} is not a PEM certificate.",
            "Run the convert step again (`onboard convert`).",
        )
    if key is not None and cert.public_key().public_numbers() != key.public_key().public_numbers():
        return CredentialError(
            f"the key {identity.key} does not belong to the certificate {identity.cert}.",
            "Use the key made together with this certificate.",
            exit_code=Exit.KEY_MISMATCH,
        )
    return CredentialError(
        f"the certificate or key cannot be used for TLS: {err.reason or err}.",
        "Check the files with `onboard doctor`.",
    )


def _with_chain(cert: Path, chain: Path | None) -> tuple[str, str | None]:
    """The certificate file to hand to OpenSSL; with intermediates appended (public data) when known."""
    if not chain or not Path(chain).is_file() or Path(chain) == Path(cert):
        return str(cert), None
    data = Path(cert).read_bytes().rstrip() + b"\n" + Path(chain).read_bytes()
    fd, name = tempfile.mkstemp(prefix="onboard-chain-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return name, name


def describe_tls_failure(exc: BaseException, host: str) -> TLSError:
    """Turn an SSL failure into: which side refused, and why."""
    chain = _exception_chain(exc)
    verify = next((c for c in chain if isinstance(c, ssl.SSLCertVerificationError)), None)
    text = " ".join(str(c) for c in chain).lower()
    if verify is not None or "certificate verify failed" in text:
        why = (getattr(verify, "verify_message", "") or "").lower() or text
        if "expired" in why:
            reason = "its certificate has expired"
        elif "not yet valid" in why:
            reason = "its certificate is not valid yet"
        elif "hostname mismatch" in why or "doesn't match" in why or "ip address mismatch" in why:
            reason = f"its certificate is not for the name {host}"
        elif "self-signed" in why or "self signed" in why:
            reason = "its certificate is self-signed and not in our trust directory"
        elif "unable to get" in why or "unknown ca" in why or "issuer" in why:
            reason = "its certificate was issued by a CA that is not in our trust directory"
        elif "revoked" in why:
            reason = "its certificate is revoked"
        else:
            reason = why.strip() or "verification failed"
        return TLSError(
            f"we refused the server {host}: {reason}.",
            "Install the server's CA (the IGTF bundle, or the sandbox CA) in the trust directory, "
            "or set trust.cert_dir; never turn verification off.",
        )
    if _dropped(exc):
        return TLSError(
            f"the server {host} closed the connection during the TLS handshake.",
            "It may not accept your certificate (or its CA), or it is overloaded; "
            "`onboard resume` tries again.",
        )
    for needle, reason in (
        ("certificate required", "it requires a client certificate and got none"),
        ("unknown ca", "it does not trust the CA that issued your certificate"),
        ("certificate expired", "it says your certificate has expired"),
        ("certificate revoked", "it says your certificate is revoked"),
        ("bad certificate", "it did not accept your certificate"),
        ("unsupported certificate", "it did not accept your certificate's type"),
        ("access denied", "it denied access to your certificate"),
        (
            "handshake failure",
            "the handshake failed (no common protocol or cipher, or your certificate was not accepted)",
        ),
        ("protocol version", "no TLS version in common"),
        ("wrong version number", "it does not speak TLS on that port"),
    ):
        if needle in text:
            return TLSError(
                f"the server {host} refused the connection: {reason}.",
                "Check that the certificate is your current IGTF personal certificate and that this "
                "server accepts its CA (ask the VO's support if so).",
            )
    return TLSError(
        f"TLS with {host} failed: {chain[-1] if chain else exc}.",
        "Check the server's address and your certificate; run with --debug for details.",
    )


def _origin(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower().rstrip("."), port or 443


def _same_server(url: str, base: str) -> bool:
    """Same host name and port (443 where none is named): another port of the same host is another
    server, perhaps another user's, and never sees the certificate."""
    return _origin(url) == _origin(base)


@dataclass
class HTTPS:
    """A requests Session with client-certificate TLS, timeouts and retries, for one server."""

    base_url: str
    context: ssl.SSLContext
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    _session: Any = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or self.base_url

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            ctx = self.context

            class _Adapter(HTTPAdapter):
                def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                    kwargs["ssl_context"] = ctx
                    super().init_poolmanager(*args, **kwargs)

                def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
                    kwargs["ssl_context"] = ctx
                    return super().proxy_manager_for(*args, **kwargs)

            s = requests.Session()
            s.mount("https://", _Adapter(max_retries=0))
            s.headers["User-Agent"] = _user_agent()
            s.trust_env = False  # no netrc credentials, no REQUESTS_CA_BUNDLE overriding our trust
            self._session = s
        return self._session

    def request(
        self, method: str, url: str, *, idempotent: bool | None = None, **kw: Any
    ) -> requests.Response:
        import requests

        if not url.lower().startswith("https://"):
            raise TLSError(f"refusing to talk to {url} without TLS.", "Registration servers are HTTPS only.")
        if not _same_server(url, self.base_url):  # e.g. a redirect: the certificate goes to one server only
            raise OnboardError(
                f"{self.host} sent onboard to {_origin(url)[0]}:{_origin(url)[1]}, another server; "
                "not followed.",
                f"Your certificate is shown only to the registration server configured ({self.base_url}); "
                "if the VO moved, update [vos.<vo>] url.",
                exit_code=Exit.SERVER,
            )
        idempotent = method.upper() in ("GET", "HEAD", "OPTIONS") if idempotent is None else idempotent
        kw.setdefault("timeout", (min(self.timeout, 15.0), self.timeout))
        kw.setdefault("allow_redirects", False)
        host = urlsplit(url).hostname or url
        attempt = 0
        while True:
            attempt += 1
            self.requests_made += 1
            try:
                resp = self.session.request(method, url, **kw)
            except requests.exceptions.SSLError as e:
                # a connection dropped mid-handshake (an overloaded server, a middlebox) is worth another try;
                # a verification failure or an alert is not
                if _dropped(e) and idempotent and attempt <= self.retries:
                    self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                if _dropped(e):
                    raise self.probe_refusal(url) or describe_tls_failure(e, host) from None
                raise describe_tls_failure(e, host) from None
            except requests.exceptions.ConnectionError as e:
                # a reset right after the handshake is how TLS 1.3 servers refuse a client certificate
                if _looks_like_tls_refusal(e):
                    raise describe_tls_failure(e, host) from None
                # only a connection never made cannot have carried the request ("Connection aborted" after
                # the request went out must not send a registration twice)
                text = str(e).lower()
                sent = not isinstance(e, requests.exceptions.ConnectTimeout) and not any(
                    w in text for w in ("failed to establish", "connection refused", "name or service")
                )
                if attempt <= self.retries and (idempotent or not sent):
                    self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                # connected, then cut off: maybe a TLS 1.3 refusal of our certificate whose alert got lost
                if any(w in str(e).lower() for w in ("aborted", "reset", "closed", "eof")):
                    refusal = self.probe_refusal(url)
                    if refusal is not None:
                        raise refusal from None
                raise NetworkError(f"cannot reach {host}: {_short(e)}.") from None
            except requests.exceptions.Timeout:
                if attempt <= self.retries and idempotent:
                    self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise NetworkError(
                    f"{host} did not answer within {self.timeout:.0f} s.",
                    "The server may be overloaded; `onboard resume` tries again later.",
                ) from None
            if attempt <= self.retries and (
                (resp.status_code in RETRY_STATUSES and idempotent) or _not_handled(resp)
            ):
                resp.close()
                self.sleep(_retry_after(resp) or self.backoff * 2 ** (attempt - 1))
                continue
            return resp

    def probe_refusal(self, url: str) -> TLSError | None:
        """Did the server refuse our certificate? With TLS 1.3 the server judges it after our side of the
        handshake has finished, so its alert races our request: a server that closes with the request
        unread makes the kernel send a reset, which can throw the alert away ("connection reset", "remote
        end closed"). Ask once more without a request: handshake, then only read. The alert is then the
        first thing to arrive, and it arrives (nothing unread on the server's side: no reset). None: the
        server accepted us (it waits for a request), or said nothing we can name."""
        import socket

        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        wait = min(self.timeout, 5.0)
        try:
            with socket.create_connection((host, port), timeout=wait) as raw:
                with self.context.wrap_socket(raw, server_hostname=host) as tls:
                    tls.settimeout(wait)
                    tls.recv(1)  # an alert raises; a server content with us sends nothing (timeout)
        except ssl.SSLError as e:
            if _dropped(e):
                return None
            failure = describe_tls_failure(e, host)
            return failure if "refused" in failure.message else None
        except OSError:  # a timeout (it waits for our request: accepted), refused, reset without an alert
            return None
        return None

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.request("POST", url, **kw)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (requests -> urllib3 -> ssl), in order."""
    out: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(out) < 20:
        cur = todo.pop(0)
        if any(cur is o for o in out):
            continue
        out.append(cur)
        nxt = [cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args]
        todo.extend(x for x in nxt if isinstance(x, BaseException))
    return out


def _not_handled(resp: Any) -> bool:
    """The server says it did not handle the request and when to come back (503 or 429 with Retry-After:
    an overloaded server, a proxy in front of one): safe to send again, even a registration (a POST)."""
    return resp.status_code in (429, 503) and _retry_after(resp) is not None


def _retry_after(resp: Any) -> float | None:
    """The server's Retry-After in seconds, capped at a minute; None when absent or not a sane number."""
    try:
        seconds = float(resp.headers.get("Retry-After", ""))
    except ValueError:  # absent, or an HTTP-date: our own backoff is as good
        return None
    return min(60.0, seconds) if seconds >= 0 else None  # NaN and negatives (sleep refuses them) drop out


def _dropped(e: BaseException) -> bool:
    text = " ".join(str(x) for x in _exception_chain(e)).lower()
    return (
        (
            "eof occurred" in text
            or "unexpected eof" in text
            or "unexpected_eof" in text
            or "connection reset" in text
        )
        and "alert" not in text
        and "verify failed" not in text
    )


def _looks_like_tls_refusal(e: BaseException) -> bool:
    text = str(e).lower()
    return any(n in text for n in ("ssl", "tlsv1", "alert", "certificate"))


def _short(e: BaseException) -> str:
    """The OS's words out of urllib3's nested repr: 'Connection refused', not 'Errno 111] ...\"))'."""
    import re

    text = str(e)
    m = re.search(r"\[Errno (-?\d+)\] ([^'\")\]]+)", text)
    if m:
        return f"{m.group(2).strip()} (errno {m.group(1)})"
    for marker in ("Name or service", "Connection refused", "timed out", "No route"):
        i = text.find(marker)
        if i >= 0:
            return re.split(r"['\")\]]", text[i:])[0].strip()
    return text[:160]


def _user_agent() -> str:
    from onboard import __version__

    return f"onboard/{__version__} (+grid onboarding)"


def identity_from(ctx_record: Any, cfg: Config, passphrase: Callable[[], str]) -> ClientIdentity:
    """The user's certificate and key: those the convert step made, else ~/.globus/user{cert,key}.pem."""
    arts = ctx_record.artifacts
    base = Path(cfg.credentials.dir).expanduser()
    cert = Path(arts.cert) if arts.cert else base / "usercert.pem"
    key = Path(arts.key) if arts.key else base / "userkey.pem"
    return ClientIdentity(
        cert=cert, key=key, passphrase=passphrase, chain=Path(arts.chain) if arts.chain else None
    )


def for_server(
    base_url: str,
    cfg: Config,
    identity: ClientIdentity | None,
    *,
    system_roots: bool = False,
    trust: Path | None = None,
) -> HTTPS:
    """An HTTPS client for one registration server, verified against the grid trust directory."""
    ctx = client_context(identity, trust or trust_dir(cfg), system_roots=system_roots)
    return HTTPS(base_url, ctx, timeout=cfg.registration.timeout_seconds)
