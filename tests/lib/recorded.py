"""Registration servers as recorded pages: onboard's HTTPS client (its requests session) answered from a
table of pages instead of a server, with no sandbox and no socket. For the tests of what onboard makes of
an answer (odd JSON, redirect loops, hostile pages), which need the answer and nothing else.

    servers = RecordedServers(tmp_path)
    user = servers.user()
    ctx = make_ctx(make_config(servers), make_record(user), user, clock)
    servers.answer(ctx, [("GET", "apiv2/user-info.action", Page('{"userInfo": [1]}'))])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from tests.lib.pki import CA
from tests.lib.regkit import EMAIL, Servers, UserCred, write_cred


@dataclass
class Page:
    body: str | bytes = ""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def redirect(cls, location: str) -> Page:
        return cls("", 302, "text/html", {"Location": location})


# (method, end of the URL's path) -> a Page, or a function of the request that returns one
Route = tuple[str, str, "Page | Callable[[requests.PreparedRequest], Page]"]


class RecordedAdapter(BaseAdapter):
    """A requests transport that answers from routes (first match wins; 404 otherwise) and keeps what it
    was asked: `seen` holds (method, path) of every request."""

    def __init__(self, routes: list[Route]):
        super().__init__()
        self.routes = routes
        self.seen: list[tuple[str, str]] = []

    def send(self, request: requests.PreparedRequest, **kw) -> requests.Response:
        path = urlsplit(request.url).path
        self.seen.append((request.method, path))
        page = next(
            (a(request) if callable(a) else a for m, end, a in self.routes
             if m == request.method and path.endswith(end)),
            Page("not recorded", 404, "text/plain"),
        )
        resp = requests.Response()
        resp.status_code = page.status
        resp._content = page.body.encode() if isinstance(page.body, str) else page.body
        resp.headers = CaseInsensitiveDict({"Content-Type": page.content_type, **page.headers})
        resp.encoding = "utf-8"
        resp.url = request.url
        resp.request = request
        resp.reason = "recorded"
        return resp

    def close(self) -> None:
        pass


class RecordedServers(Servers):
    """Registration services at made-up addresses whose pages are recorded; a CA of the test PKI issues the
    user's certificate and is the trust directory."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.ca = CA()
        self.ca.trust_dir(self.trust_dir)

    def url(self, listener: str = "voms") -> str:
        return {"voms": "https://voms.example.org:8443", "open": "https://iam.example.org"}[listener]

    def user(self, name: str = "Jane Doe", email: str = EMAIL) -> UserCred:
        c = self.ca.user(name)
        return write_cred(self.dir / "cred", c.cert, c.key, [self.ca.cert], c.dn, self.ca.dn, email)

    def answer(self, ctx, routes: list[Route]) -> RecordedAdapter:
        """From now on the journey's HTTPS session (flow.http) is answered from `routes`."""
        from onboard.registration import flow

        adapter = RecordedAdapter(routes)
        flow.http(ctx).session.mount("https://", adapter)
        return adapter
