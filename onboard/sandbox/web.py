"""HTTPS plumbing of the sandbox's registration servers, and the route registry other modules extend.

The sandbox serves every registration-service emulation from one `App`: a table of routes
`(method, path or path prefix) -> handler`, served by one or more TLS *listeners*:

    "voms"  port_base + 0   client certificate REQUIRED in the handshake, verified against the sandbox
                            trust directory (like the VOMS-Admin container; VOMRS lived here too)
    "open"  port_base + 1   client certificate optional (INDIGO IAM does not use X.509 to register)

A listener is started only if some route needs it.

Adding an emulation (e.g. `onboard/sandbox/iam/`, `onboard/sandbox/vomrs/`): write a package with

    def install(app: App) -> None:
        app.schema('''CREATE TABLE IF NOT EXISTS iam_request (uuid TEXT PRIMARY KEY, ...)''')
        app.route("POST", "/registration/create", create, listener="open")
        app.route("GET", "/registration/verify/", verify, listener="open", prefix=True)

    def create(req: Request) -> Response:
        data = req.json()                        # or req.form(), req.param("x"), req.query
        with req.app.ctx.db() as db:             # sqlite3.Connection, commits on success
            db.execute("INSERT INTO iam_request ...", (...))
        req.app.ctx.mail.send(to, subject, body) # Maildir DIR/mail/<address>/ or SMTP
        return Response.json({...}, status=201)

and add its name to `EXTENSIONS` below (a missing module is skipped, so the list may name modules that
do not exist yet). Handlers receive a `Request` with `.client` (the verified client certificate's
OpenSSL-style DN, issuer DN and e-mail, or None on the open listener without one), `.session(path)`
(a server-side session keyed by a JSESSIONID cookie, its part for that path; `.renew_session(path)` at a
login gives it a new id), `.app.ctx` (the SandboxContext: `.db()`,
`.mail`, `.settings`, `.ca`, `.now()`, `.log()`), and `.app.base_url(listener)`.
Matching: an exact path route wins over a prefix route; among prefixes the longest wins. A path that
matches no route gets 404; a path that matches with another method gets 405.
Handlers run in threads (one per connection): keep state in the database, not in module globals.
"""

from __future__ import annotations

import contextlib
import http.server
import json as _json
import re
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from onboard.sandbox.connection_limits import ConnectionLimits
from onboard.sandbox.identity import ClientIdentity

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext

# Modules whose install(app) adds routes. voms_admin = VOMS-Admin; iam/vomrs: issue 5.
EXTENSIONS = (
    "onboard.sandbox.voms_admin",
    "onboard.sandbox.iam",
    "onboard.sandbox.vomrs",
    "onboard.sandbox.portal",
    "onboard.sandbox.board",  # the instructor's board page
)

LISTENERS = {"voms": 0, "open": 1}  # name -> offset from port_base
MAX_BODY = 1 << 20
MAX_SESSIONS = 10000
# the mailed links' bearer secrets (sign-in, password reset, confirmation): no request line logs them
_LINK_SECRET = re.compile(r"(/(?:callback|token|verify)/|[?&](?:confirmationId|code|token|key)=)[^/?&\s\"]+")


def redact(line: str) -> str:
    return _LINK_SECRET.sub(r"\1<secret>", line)


class Response:
    def __init__(
        self,
        body: bytes | str = b"",
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        content_type: str = "text/html; charset=UTF-8",
    ):
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers or [])
        if content_type and not any(k.lower() == "content-type" for k, _ in self.headers):
            self.headers.append(("Content-Type", content_type))

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(text, status)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        return cls(_json.dumps(obj, indent=None), status, content_type="application/json;charset=UTF-8")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(text, status, content_type="text/plain; charset=UTF-8")

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Response:
        return cls(b"", status, [("Location", location)], content_type="")


Handler = Callable[["Request"], Response]


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    listener: str = "voms"
    prefix: bool = False


@dataclass
class Request:
    app: App
    listener: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes
    client: ClientIdentity | None
    remote: str
    route: Route | None = None
    _form: dict[str, list[str]] | None = None
    _session: tuple[str, dict, bool] | None = None
    set_cookies: list[str] = field(default_factory=list)

    @property
    def rest(self) -> str:
        """For a prefix route: the part of the path after the prefix."""
        return self.path[len(self.route.path) :] if self.route and self.route.prefix else ""

    def form(self) -> dict[str, list[str]]:
        if self._form is None:
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if self.method == "POST" and ctype == "application/x-www-form-urlencoded":
                self._form = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            else:
                self._form = {}
        return self._form

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a form field or query parameter (form wins), like a Struts action property."""
        for src in (self.form(), self.query):
            if name in src and src[name]:
                return src[name][0]
        return default

    def json(self) -> Any:
        return _json.loads(self.body.decode("utf-8")) if self.body else None

    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        with contextlib.suppress(Exception):
            jar.load(self.headers.get("Cookie") or "")
        return {k: m.value for k, m in jar.items()}

    def session(self, cookie_path: str = "/") -> dict:
        """The server-side session of this client (JSESSIONID cookie), created on first use; its part for
        `cookie_path` only (a client sends its cookie wherever it likes: what one service of the sandbox
        keeps in it, a login, means nothing to another)."""
        if self._session is None:
            sid = self.cookies().get("JSESSIONID", "")
            data = self.app.sessions.get(sid) if sid else None
            if data is None:
                sid, data = self._new_session(cookie_path)
            self._session = (sid, data, True)
        return self._session[1].setdefault(cookie_path, {})

    def renew_session(self, cookie_path: str) -> dict:
        """A fresh, empty session for `cookie_path` under a new id, at a login: an id someone planted or
        read before it (session fixation) never becomes a logged-in session."""
        old_sid = self.cookies().get("JSESSIONID", "")
        old = self.app.sessions.get(old_sid)
        if old is not None:
            old.pop(cookie_path, None)
            if not old:  # nothing of another service in it: gone
                with self.app._lock:
                    self.app.forget_session(old_sid)
        self.set_cookies = [c for c in self.set_cookies if not c.startswith("JSESSIONID=")]
        self._session = (*self._new_session(cookie_path), True)
        return self._session[1].setdefault(cookie_path, {})

    def _new_session(self, cookie_path: str) -> tuple[str, dict]:
        sid, data = secrets.token_hex(16).upper(), {}
        app = self.app
        with app._lock:
            # full: forget the oldest (dicts keep insertion order), of this address when it has its share
            # already: one stranger asking for pages in a loop pushes out its own sessions, not everyone's
            if app.sessions_of.get(self.remote, 0) >= max(1, MAX_SESSIONS // 10):
                app.forget_session(next(s for s, who in app.session_owner.items() if who == self.remote))
            elif len(app.sessions) >= MAX_SESSIONS:
                app.forget_session(next(iter(app.sessions)))
            app.sessions[sid] = data
            app.session_owner[sid] = self.remote
            app.sessions_of[self.remote] = app.sessions_of.get(self.remote, 0) + 1
        # SameSite=Lax: another site's form posts no cookie of ours (a mailed link, a GET, still logs in)
        self.set_cookies.append(f"JSESSIONID={sid}; Path={cookie_path}; Secure; HttpOnly; SameSite=Lax")
        return sid, data


class App:
    """The route table plus the shared context; served by `Listener`s."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx
        self.routes: list[Route] = []
        self.sessions: dict[str, dict] = {}
        self.session_owner: dict[str, str] = {}  # session id -> the address that made it
        self.sessions_of: dict[str, int] = {}  # address -> how many sessions it made
        self.ports: dict[str, int] = {}  # listener -> actual port, filled by the sandbox when started
        self._lock = threading.Lock()

    # -- registry --------------------------------------------------------------------------------
    def route(
        self, method: str, path: str, handler: Handler, *, listener: str = "voms", prefix: bool = False
    ) -> None:
        if listener not in LISTENERS:
            raise ValueError(f"unknown listener {listener!r}; known: {', '.join(LISTENERS)}")
        self.routes.append(Route(method.upper(), path, handler, listener, prefix))

    def forget_session(self, sid: str) -> None:
        self.sessions.pop(sid, None)
        who = self.session_owner.pop(sid, None)
        if who is not None:
            self.sessions_of[who] -= 1
            if not self.sessions_of[who]:
                del self.sessions_of[who]

    def schema(self, sql: str) -> None:
        """Create an extension's tables (idempotent SQL: CREATE TABLE IF NOT EXISTS ...)."""
        with self.ctx.db() as db:  # statement by statement: executescript() would end the transaction
            for stmt in sql.split(";"):
                if stmt.strip():
                    db.execute(stmt)

    def listeners(self) -> list[str]:
        return sorted({r.listener for r in self.routes}, key=lambda n: LISTENERS[n])

    def install_extensions(self, names: tuple[str, ...] = EXTENSIONS) -> list[str]:
        import importlib

        installed = []
        for name in names:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name == name:  # the module itself is absent (not yet written): skip it
                    continue
                raise
            module.install(self)
            installed.append(name)
        return installed

    def base_url(self, listener: str = "voms") -> str:
        host = self.ctx.settings.hostname
        return f"https://{host}:{self.ports.get(listener, self.ctx.settings.port_for(listener))}"

    def match(self, method: str, path: str, listener: str) -> tuple[Route | None, bool]:
        """(route, path_known): path_known tells 405 from 404."""
        candidates = [
            r
            for r in self.routes
            if r.listener == listener and (r.path == path if not r.prefix else path.startswith(r.path))
        ]
        if not candidates:
            return None, False
        for r in sorted(candidates, key=lambda r: (r.prefix, -len(r.path))):
            if r.method == method or (method == "HEAD" and r.method == "GET"):
                return r, True
        return None, True

    def dispatch(self, req: Request) -> Response:
        route, known = self.match(req.method, req.path, req.listener)
        if route is None:
            if known:
                return Response.html(error_page(405, "Method not allowed"), 405)
            return Response.html(error_page(404, "The requested resource is not available."), 404)
        req.route = route
        try:
            return route.handler(req)
        except Exception as e:  # a bug in a handler: a 500 page, and the traceback in the log
            import traceback

            self.ctx.log(f"handler error on {req.method} {req.path}: {traceback.format_exc()}")
            return Response.html(error_page(500, f"{type(e).__name__}"), 500)


def error_page(status: int, message: str) -> str:
    from html import escape

    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return (
        f"<!doctype html><html><head><title>HTTP Status {status} - {escape(phrase)}</title></head>"
        f"<body><h1>HTTP Status {status} - {escape(phrase)}</h1><p><b>Message</b> {escape(message)}</p>"
        f"</body></html>"
    )


# -- serving -----------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache-Coyote/1.1"  # what a Tomcat-hosted VOMS-Admin announces
    sys_version = ""
    server: _Server

    def _handle(self) -> None:
        srv = self.server
        parts = urlsplit(self.path)
        declared = (self.headers.get("Content-Length") or "0").strip()
        # digits only: int() would take "-1" (then read to EOF, unbounded) and "+1_0"
        length = int(declared) if declared.isascii() and declared.isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the unread body must not be taken for the next request
            status, why = (413, "Request too large") if length > 0 else (400, "Bad Content-Length")
            self._send(Response.html(error_page(status, why), status))
            return
        body = self.rfile.read(length) if length else b""
        srv.limits.disarm(self.connection)  # the request is in whole: the deadline was for reading it
        req = Request(
            app=srv.app,
            listener=srv.listener_name,
            method=self.command,
            path=parts.path or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            client=getattr(self.connection, "_onboard_client", None),
            remote=self.client_address[0],
        )
        resp = srv.app.dispatch(req)
        for c in req.set_cookies:
            resp.headers.append(("Set-Cookie", c))
        self._send(resp, head=self.command == "HEAD")

    def _send(self, resp: Response, head: bool = False) -> None:
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if not head:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle

    def handle_one_request(self) -> None:
        # the next request (or the first) must arrive whole in time; after an answer the connection is
        # idle, kept alive for the client's next request, and may make room for a new one (see limits)
        answered = getattr(self, "_answered", False)
        self.server.limits.arm(self.connection, idle_from=self.client_address[0] if answered else None)
        super().handle_one_request()
        self._answered = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        srv = self.server
        srv.app.ctx.log(f"{srv.listener_name} {self.address_string()} {redact(format % args)}")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # a classroom connecting at once

    def __init__(self, addr: tuple[str, int], app: App, listener_name: str, context: ssl.SSLContext):
        self.app = app
        self.listener_name = listener_name
        self.tls = context
        self.connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self.limits = ConnectionLimits(lambda msg: app.ctx.log(f"{listener_name} {msg}"))
        super().__init__(addr, _Handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        # in the accepting thread: a connection over the limits costs no thread, no handshake
        if not self.limits.admit(client_address[0]):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.limits.release(client_address[0])

    def service_actions(self) -> None:
        self.limits.reap()  # serve_forever calls this every poll_interval

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so one slow client stalls nobody.
        request.settimeout(30)
        tls = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        self.limits.arm(tls)  # the handshake counts against the first request's deadline
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.limits.disarm(tls)
            with contextlib.suppress(OSError):
                tls.close()
            self.app.ctx.log(f"{self.listener_name} {client_address[0]} TLS handshake failed: {e}")
            return
        with self._conn_lock:
            self.connections.add(tls)
        try:
            tls._onboard_client = client_identity(tls, self.app.ctx)  # type: ignore[attr-defined]
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError, ConnectionError):
            pass
        finally:
            self.limits.disarm(tls)
            with self._conn_lock:
                self.connections.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def shutdown_request(self, request: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request.close()

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self.connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


def client_identity(sock: ssl.SSLSocket, ctx: SandboxContext) -> ClientIdentity | None:
    der = sock.getpeercert(binary_form=True)
    if not der:
        return None
    from onboard.sandbox import dn as dnmod

    return dnmod.identity_from_der(der, ctx.ca.subject_issuer_index())


def server_context(cert_file: str, key_file: str, trust_dir: str, client_cert: str) -> ssl.SSLContext:
    """TLS server context: `client_cert` is "required" or "optional"; verification uses the trust dir."""
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.minimum_version = ssl.TLSVersion.TLSv1_2
    c.load_cert_chain(cert_file, key_file)
    c.load_verify_locations(capath=trust_dir)
    c.verify_mode = ssl.CERT_REQUIRED if client_cert == "required" else ssl.CERT_OPTIONAL
    # Accept RFC 3820 proxies as client credentials, as VOMS-Admin does (X509_V_FLAG_ALLOW_PROXY_CERTS).
    with contextlib.suppress(Exception):
        c.verify_flags = c.verify_flags | 0x40
    return c


class Listener:
    """One TLS port serving the routes of one listener name, in a background thread."""

    def __init__(self, app: App, name: str, bind: str, port: int, context: ssl.SSLContext):
        self.app = app
        self.name = name
        self.server = _Server((bind, port), app, name, context)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-https-{name}",
            daemon=True,
        )

    def start(self) -> Listener:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.close_connections()
        self.thread.join(timeout=5)
