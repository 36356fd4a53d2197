"""Client-certificate HTTPS: the encrypted key loaded in memory, the server verified against a CApath trust
directory, one TLS handshake per server per run, retries on 5xx, and TLS errors saying who refused and why."""

from __future__ import annotations

import http.server
import os
import ssl
import threading
from pathlib import Path

import pytest

from onboard.adapters.https import HTTPS, ClientIdentity, TLSError, client_context
from onboard.errors import CredentialError, Exit
from tests.lib.pki import CA

PASS = "a long test passphrase"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.paths.append(self.path)
        status = srv.statuses.pop(0) if srv.statuses else 200
        peer = self.connection.getpeercert()
        body = repr(peer.get("subject") if peer else None).encode()
        self.send_response(status)
        if srv.retry_after:
            self.send_header("Retry-After", srv.retry_after.pop(0))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ctx: ssl.SSLContext):
        self.tls, self.paths, self.statuses, self.handshakes = ctx, [], [], 0
        self.retry_after: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        self.handshakes += 1
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    drops = 0

    def finish_request(self, request, client_address):
        if self.drops:
            self.drops -= 1
            request.close()  # dropped before the handshake (an overloaded server)
            return
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


@pytest.fixture
def pki(tmp_path):
    ca, other = CA(), CA()
    trust = ca.trust_dir(tmp_path / "trust")
    user = ca.user()
    cert, key = tmp_path / "usercert.pem", tmp_path / "userkey.pem"
    cert.write_bytes(user.pem())
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(user.key_pem(PASS))
    return {"ca": ca, "other": other, "trust": trust, "cert": cert, "key": key, "tmp": tmp_path}


def _expired(ca):
    import datetime as dt

    from tests.lib.pki import issue, name

    now = dt.datetime.now(dt.timezone.utc)
    ten_days_ago = now - dt.timedelta(days=10)
    return issue(name(("CN", "localhost")), ca.signer, host="localhost", not_before=ten_days_ago, days=9)


def serve(pki, *, host_ca=None, client_ca=None, require=True, expired=False):
    from tests.lib.pki import name

    t = pki["tmp"]
    ca = host_ca or pki["ca"]
    host = _expired(ca) if expired else ca.issue(name(("CN", "localhost")), host="localhost")
    hc, hk = t / f"host{id(host)}.pem", t / f"hostkey{id(host)}.pem"
    hc.write_bytes(host.pem())
    hk.write_bytes(host.key_pem())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(hc, hk)
    ctx.load_verify_locations(
        cadata=(client_ca or pki["ca"])
        .cert.public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM
        )
        .decode()
    )
    ctx.verify_mode = ssl.CERT_REQUIRED if require else ssl.CERT_OPTIONAL
    srv = TLSServer(ctx)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def client(pki, passphrase=PASS, trust=None, srv=None, port=None):
    """A client for the server `srv` (or the port named): the certificate goes to that host and port only."""
    ident = ClientIdentity(pki["cert"], pki["key"], lambda: passphrase)
    port = srv.server_address[1] if srv is not None else port
    base = f"https://localhost:{port}" if port else "https://localhost"
    return HTTPS(base, client_context(ident, trust or pki["trust"]), timeout=5, sleep=lambda s: None)


def test_key_is_encrypted_on_disk_and_loaded_in_memory(pki):
    assert pki["key"].read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    srv = serve(pki)
    before = set(os.listdir(pki["tmp"]))
    try:
        h = client(pki, srv=srv)
        port = srv.server_address[1]
        r1 = h.get(f"https://localhost:{port}/a")
        r2 = h.get(f"https://localhost:{port}/b")
        assert r1.status_code == r2.status_code == 200
        assert "Jane Doe" in r1.text  # the server saw our certificate
        assert srv.handshakes == 1  # one TLS handshake for the whole run (keep-alive)
        h.close()
    finally:
        srv.shutdown()
    assert set(os.listdir(pki["tmp"])) == before  # nothing written next to the key


def test_wrong_passphrase(pki):
    with pytest.raises(CredentialError) as e:
        client(pki, passphrase="wrong")
    assert e.value.exit_code == Exit.WRONG_PASSPHRASE
    assert "wrong passphrase" in e.value.message


def test_unknown_server_ca_is_refused_by_us(pki):
    srv = serve(pki, host_ca=pki["other"])
    try:
        with pytest.raises(TLSError) as e:
            client(pki, srv=srv).get(f"https://localhost:{srv.server_address[1]}/")
        assert "we refused the server" in e.value.message
        assert "CA that is not in our trust directory" in e.value.message
        assert e.value.exit_code == Exit.TLS
        assert srv.paths == []
    finally:
        srv.shutdown()


def test_expired_server_certificate(pki):
    srv = serve(pki, expired=True)
    try:
        with pytest.raises(TLSError) as e:
            client(pki, srv=srv).get(f"https://localhost:{srv.server_address[1]}/")
        assert "expired" in e.value.message and "we refused" in e.value.message
    finally:
        srv.shutdown()


def test_server_refusing_our_certificate_says_so(pki):
    srv = serve(pki, client_ca=pki["other"])  # the server trusts another CA than ours
    try:
        with pytest.raises(TLSError) as e:
            client(pki, srv=srv).get(f"https://localhost:{srv.server_address[1]}/")
        assert "refused the connection" in e.value.message
        assert srv.paths == []
    finally:
        srv.shutdown()


def test_a_refusal_whose_alert_was_lost_is_still_named(pki):
    """TLS 1.3: the server's alert can be lost when its close turns into a reset under our request; the
    client then asks again without a request and reads the alert. The lost alert is made certain here; an
    accepting server gives no such verdict (a plain network error)."""
    import requests

    from onboard.adapters.https import NetworkError

    def reset(*a, **kw):
        raise requests.exceptions.ConnectionError(
            "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
        )

    for client_ca, expected in ((pki["other"], TLSError), (pki["ca"], NetworkError)):
        srv = serve(pki, client_ca=client_ca)
        try:
            h = client(pki, srv=srv)
            h.session.request = reset
            if expected is NetworkError:
                h.timeout = 0.5  # how long the probe waits for an alert from a server that accepted us
            with pytest.raises(expected) as e:
                h.get(f"https://localhost:{srv.server_address[1]}/")
            if expected is TLSError:
                assert "refused the connection" in e.value.message
                assert "does not trust the CA" in e.value.message
            else:
                assert "cannot reach localhost" in e.value.message
            assert h.requests_made == 4 and srv.paths == []  # retried as before; the probe sent no request
        finally:
            srv.shutdown()


def test_a_post_cut_off_after_connecting_is_not_sent_again(pki):
    """A registration is a POST: once the connection was made it may have reached the server, so a reset
    is reported, never answered by sending it a second time. A connection refused is safe to retry."""
    import requests

    from onboard.adapters.https import NetworkError

    calls = []

    def cut(message):
        def request(*a, **kw):
            calls.append(a[0])
            raise requests.exceptions.ConnectionError(message)

        return request

    h = client(pki, port=9)
    h.probe_refusal = lambda url: None  # no server here to ask
    h.session.request = cut("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))")
    with pytest.raises(NetworkError):
        h.post("https://localhost:9/register", idempotent=False)
    assert calls == ["POST"]
    calls.clear()
    h.session.request = cut("HTTPSConnectionPool: Max retries exceeded (Caused by NewConnectionError("
                            "'Failed to establish a new connection: [Errno 111] Connection refused'))")
    with pytest.raises(NetworkError):
        h.post("https://localhost:9/register", idempotent=False)
    assert calls == ["POST"] * 4


def test_retries_5xx_with_backoff_then_succeeds(pki):
    srv = serve(pki)
    srv.statuses = [503, 502]
    try:
        h = client(pki, srv=srv)
        slept: list[float] = []
        h.sleep = slept.append
        r = h.get(f"https://localhost:{srv.server_address[1]}/x")
        assert r.status_code == 200 and len(srv.paths) == 3 and h.requests_made == 3
        assert slept == [0.5, 1.0]
        # a POST (not idempotent) is never retried on a 5xx
        srv.statuses = [503]
        assert h.request("POST", f"https://localhost:{srv.server_address[1]}/y").status_code in (501, 503)
    finally:
        srv.shutdown()


def test_retry_after_is_heeded_within_reason(pki):
    """Retry-After is heeded up to a minute; a negative, NaN or date value means our own backoff."""
    srv = serve(pki)
    try:
        h = client(pki, srv=srv)
        h.retries = 5
        slept: list[float] = []
        h.sleep = slept.append
        srv.statuses = [503] * 5
        srv.retry_after = ["7", "-3", "nan", "86400", "Wed, 21 Oct 2026 07:28:00 GMT"]
        assert h.get(f"https://localhost:{srv.server_address[1]}/x").status_code == 200
        assert slept == [7.0, 1.0, 2.0, 60.0, 8.0]
    finally:
        srv.shutdown()


def test_plain_http_is_refused(pki):
    with pytest.raises(TLSError):
        client(pki).get("http://localhost/")


def test_missing_trust_dir_is_an_error(tmp_path):
    from onboard.adapters.https import trust_dir
    from onboard.config import Config

    cfg = Config.model_validate({"trust": {"cert_dir": str(tmp_path / "nope")}})
    with pytest.raises(TLSError):
        trust_dir(cfg, environ={})
    assert trust_dir(Config(), environ={"X509_CERT_DIR": str(tmp_path)}) == Path(tmp_path)


def test_connection_dropped_in_the_handshake_is_retried(pki):
    srv = serve(pki)
    srv.drops = 2
    try:
        h = client(pki, srv=srv)
        assert h.get(f"https://localhost:{srv.server_address[1]}/x").status_code == 200
        assert h.requests_made == 3 and srv.handshakes == 3
        srv.drops = 5
        with pytest.raises(TLSError) as e:
            h.close()
            h.get(f"https://localhost:{srv.server_address[1]}/y")
        assert "closed the connection during the TLS handshake" in e.value.message
    finally:
        srv.shutdown()


def test_unreachable_and_silent_servers_give_network_errors(pki):
    import socket

    from onboard.adapters.https import NetworkError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    h = client(pki, port=port)
    slept: list[float] = []
    h.sleep = slept.append
    with pytest.raises(NetworkError) as e:
        h.get(f"https://localhost:{port}/")
    assert e.value.exit_code == Exit.NETWORK and "cannot reach localhost" in e.value.message
    assert slept == [0.5, 1.0, 2.0]  # retried with backoff
    # a server that accepts and never answers: the timeout ends it
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        h = client(pki, port=silent.getsockname()[1])
        h.sleep = slept.append
        h.timeout = 0.5
        slept.clear()
        with pytest.raises(NetworkError):
            h.get(f"https://localhost:{silent.getsockname()[1]}/")
        assert len(slept) == 3
    finally:
        silent.close()
