"""Small real servers for the hostile-input corpus: an HTTPS registration server that misbehaves in one chosen
way (HTML error pages, 5xx, silence, redirects to another host), with a certificate from the test CA, from
an unknown CA or for another host name, or plain HTTP where TLS is expected. Loopback, port 0, threads."""

from __future__ import annotations

import http.server
import os
import ssl
import threading
from pathlib import Path

HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>Apache Tomcat/7.0.76 - Error report</title></head><body>"
    b"<h1>HTTP Status 500 - java.lang.NullPointerException</h1><p><b>type</b> Exception report</p>"
    b"<pre>org.glite.security.voms.admin.error.VOMSException</pre></body></html>"
)
NOT_FOUND = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
MAINTENANCE = b"<html><body><h1>Service Unavailable</h1><p>Down for maintenance.</p></body></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        srv: HostileServer = self.server  # type: ignore[assignment]
        srv.hits.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        how = srv.behaviour
        if how == "hang":  # accept, read the request, never answer (until the test ends)
            srv.released.wait(30)
            return
        status, body, headers = {
            "html_error": (200, HTML_ERROR, {}),
            "500": (500, HTML_ERROR, {}),
            "503": (503, MAINTENANCE, {}),
            "404": (404, NOT_FOUND, {}),
            "redirect": (302, b"", {"Location": f"https://127.0.0.2:{srv.server_address[1]}{self.path}"}),
            "ok": (200, b"<html><body>hello</body></html>", {}),
        }[how]
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer  # noqa: N815

    def log_message(self, *a) -> None:
        pass


class HostileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: str, tls: ssl.SSLContext | None):
        self.behaviour, self.tls, self.hits = behaviour, tls, []
        self.released = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is None:
            return sock, addr
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        if self.tls is not None:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: that is what some cases expect
        super().finish_request(request, client_address)

    def start(self) -> HostileServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()


def server_context(issuer, host: str, d: Path, trust: Path | None = None) -> ssl.SSLContext:
    """TLS for the hostile server: a host certificate for `host` from `issuer` (tests.lib.pki.CA)."""
    cred = issuer.host(host)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / f"{host}-cert.pem", d / f"{host}-key.pem"
    cert.write_bytes(cred.pem())
    if not key.exists():
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(cred.key_pem())
    else:
        key.write_bytes(cred.key_pem())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # no TLS 1.3 post-handshake races in refusals
    if trust is not None:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(capath=str(trust))
    return ctx
