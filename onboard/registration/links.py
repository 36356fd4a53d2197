"""Confirmation links in mails: extracted from plain, HTML and quoted-printable parts, followed only if safe.

A link is safe when it points at the registration server of this journey: https, the same host (exactly:
no look-alike, no user@host trick, no IDN homoglyph), the same port (a port the service writes whatever
it listens on, VOMS-Admin's hard-coded :8443, is mapped to the configured port of the same host), and the
service's confirmation path under this VO's base path. What a confirmation link of a service looks like is
that service's `LinkRule` (declared by its registrar); the checks here are shared.
Anything else is refused and reported: the client certificate is never shown to a host a mail names.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from onboard.errors import Exit, MailError, OnboardError
from onboard.registration.html import TolerantParser

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_URL_IN_TEXT = re.compile(r"""https?://[^\s<>"'`]+""", re.I)


class UnsafeLink(OnboardError):
    exit_code = Exit.UNSAFE_LINK
    default_hint = (
        "Do not open it. Confirmation links must point at the VO's registration server; "
        "report the mail to your IT security team if you did not expect it."
    )


@dataclass(frozen=True)
class Confirmation:
    url: str  # the URL to open (port mapped, normalised)
    request_id: str = ""
    token: str = ""  # confirmationId / IAM key / VOMRS code


def extract_links(msg: Message) -> list[str]:
    """Every http(s) URL in the text and HTML parts (transfer encodings decoded), in order, no duplicates."""
    found: list[str] = []
    for part in msg.walk() if msg.is_multipart() else [msg]:
        ctype = part.get_content_type()
        if part.is_multipart() or ctype not in ("text/plain", "text/html"):
            continue
        payload = part_bytes(part)
        if payload is None:
            continue
        text = decode(payload, part.get_content_charset())
        urls = _html_links(text) if ctype == "text/html" else []
        urls += [_trim(u) for u in _URL_IN_TEXT.findall(_html_text(text) if ctype == "text/html" else text)]
        for u in urls:
            if u and u not in found:
                found.append(u)
    return found


TRANSFER_ENCODINGS = ("7bit", "8bit", "binary", "quoted-printable", "base64")  # RFC 2045; JavaMail's own


def part_bytes(part: Message) -> bytes | None:
    """A leaf part's body with its transfer encoding undone. An encoding no standard defines is an error
    (Python would hand back the encoded text as if it were the body, and a link in it could be garbled)."""
    cte = str(part.get("Content-Transfer-Encoding", "") or "7bit").strip().lower()
    if cte not in TRANSFER_ENCODINGS:
        raise MailError(
            f"a mail has a part in the transfer encoding {cte[:40]!r}, which onboard cannot read.",
            "onboard reads 7bit, 8bit, quoted-printable and base64; open the mail in a mail program and "
            "give its link to `onboard confirm URL`.",
        )
    return part.get_payload(decode=True)


def decode(payload: bytes, charset: str | None) -> str:
    """A part's text; a charset Python does not know (a typo, a hostile one) is read as UTF-8."""
    try:
        return payload.decode(charset or "utf-8", errors="replace")
    except (LookupError, ValueError):  # unknown name; ValueError: a NUL in the name
        return payload.decode("utf-8", errors="replace")


def _trim(url: str) -> str:
    return url.rstrip(".,;:!?)]}>'\"")


class _Hrefs(TolerantParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("href", "action") and v and v.strip().lower().startswith(("http://", "https://")):
                self.hrefs.append(v.strip())

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _html_links(text: str) -> list[str]:
    p = _Hrefs()
    p.feed(text)
    return p.hrefs


def _html_text(text: str) -> str:
    p = _Hrefs()
    p.feed(text)
    return " ".join(p.text)


# -- what a link must look like ------------------------------------------------------------------


@dataclass(frozen=True)
class LinkRule:
    """The shape of one service's confirmation link: the per-service piece of the checks below.

    Each registrar (onboard.registration.<service>) declares its own; the checks are the same for all.
    """

    base_path: Callable[[str], str]  # the VO's base path, from the path of the configured URL
    path: re.Pattern[str]  # the confirmation page, after the base path (a group: the token in the path)
    query: dict[str, re.Pattern[str]] = field(default_factory=dict)  # exactly these parameters
    request_id: str = ""  # the parameter naming the request, if any
    token: str = ""  # the parameter carrying the secret; "" when it is the path's group
    reportable: str = ""  # a path part that makes a refused link on the server's own host worth a warning
    foreign_ports: frozenset[int] = frozenset()  # ports the server writes whatever it listens on

    def confirmation(self, url: str, match: re.Match[str], query: dict[str, list[str]]) -> Confirmation:
        request_id = query[self.request_id][0] if self.request_id else ""
        token = query[self.token][0] if self.token else match.group(1)
        return Confirmation(url, request_id, token)


@dataclass(frozen=True)
class Server:
    """The registration server of the journey, from its configured URL."""

    scheme: str
    host: str
    port: int
    base_path: str  # /voms/cms, /vo/cms/vomrs, or "" for IAM at the root

    @classmethod
    def from_url(cls, url: str, rule: LinkRule) -> Server:
        parts = urlsplit(url)
        path = rule.base_path(parts.path.rstrip("/"))
        return cls(parts.scheme.lower(), _host(parts.hostname or ""), parts.port or 443, path)

    def base_url(self) -> str:
        """https://host[:port]/base-path: the service's root as the links should name it."""
        netloc = self.host if self.port == 443 else f"{self.host}:{self.port}"
        return f"https://{netloc}{self.base_path}"


def _host(h: str) -> str:
    return h.lower().rstrip(".")


def check_link(url: str, registration_url: str, rule: LinkRule) -> Confirmation:
    """The link to open, or UnsafeLink saying what is wrong with it."""
    server = Server.from_url(registration_url, rule)
    where = (
        f"{server.scheme}://{server.host}{'' if server.port == 443 else f':{server.port}'}{server.base_path}/"
    )

    def refuse(why: str) -> UnsafeLink:
        shown = url if len(url) <= 120 else url[:117] + "..."
        return UnsafeLink(f"refused the link {shown}: {why} (expected a link under {where}).")

    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        raise refuse("it contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("it is not a well-formed URL") from None
    if parts.scheme.lower() != "https":
        raise refuse("it is not https")
    if "@" in parts.netloc:
        raise refuse("it carries a user name before the host (a classic disguise)")
    raw_host = parts.hostname or ""
    if not raw_host.isascii():
        raise refuse(f"its host {raw_host!r} has non-ASCII characters (a look-alike of a real name?)")
    if not url.isascii():
        raise refuse("it has non-ASCII characters (links in mails are ASCII)")
    host = _host(raw_host)
    if host != server.host:
        if host.endswith("." + server.host) or server.host in host or _looks_alike(host, server.host):
            raise refuse(f"its host {host} only looks like {server.host}")
        raise refuse(f"it points at {host}, not at {server.host}")
    port = port or 443
    if port != server.port:
        if port not in rule.foreign_ports:
            raise refuse(f"it points at port {port}, not {server.port}")
        # e.g. VOMS-Admin writes :8443 whatever port it listens on; the host matched, so map the port
    path = parts.path
    if "%" in path and unquote(path) != path:
        raise refuse("its path is percent-encoded")
    norm = posixpath.normpath(path) if path else "/"
    if norm != path or "/../" in path or path.endswith("/.."):
        raise refuse("its path is not in normal form (dot segments)")
    prefix = server.base_path
    if prefix and not (path == prefix or path.startswith(prefix + "/")):
        raise refuse(f"its path {path} is not under {prefix}/ (another VO or another service)")
    rest = path[len(prefix) :]
    query_res = rule.query
    m = rule.path.fullmatch(rest)
    if not m:
        raise refuse(f"{rest or '/'} is not the confirmation page")
    if parts.fragment:
        raise refuse("it has a fragment")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    if set(query) != set(query_res) or any(len(v) != 1 for v in query.values()):
        raise refuse("its parameters are not the confirmation's" if query_res else "it has parameters")
    for name, rx in query_res.items():
        value = query[name][0]  # percent-decoded: %0A is a newline, %EF%BC%91 a full-width 1
        if not (value.isascii() and value.isprintable() and rx.fullmatch(value)):
            raise refuse(f"its {name} is malformed")
    netloc = server.host if server.port == 443 else f"{server.host}:{server.port}"
    return rule.confirmation(urlunsplit(("https", netloc, path, parts.query, "")), m, query)


def _looks_alike(a: str, b: str) -> bool:
    """Same letters after the usual substitutions (0/o, 1/l, rn/m, - vs .), or one edit apart."""

    def skeleton(s: str) -> str:
        s = s.replace("rn", "m").replace("0", "o").replace("1", "l").replace("-", ".").replace("_", ".")
        return s

    if skeleton(a) == skeleton(b):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    # one substitution, insertion or deletion
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + 1 :] == b[i + 1 :] or a[i:] == b[i + 1 :] or a[i + 1 :] == b[i:]


def find_confirmation(
    msg: Message, registration_url: str, rule: LinkRule
) -> tuple[Confirmation | None, list[str]]:
    """The safe confirmation link in a mail, and the reasons for every refused link.

    Refused and reported: any link to another host, and any confirmation-looking link that fails the
    checks. Not reported: the server's own other pages (VOMS-Admin's cancel link, a login page).
    """
    server = Server.from_url(registration_url, rule)
    good: Confirmation | None = None
    refused: list[str] = []
    for url in extract_links(msg):
        try:
            conf = check_link(url, registration_url, rule)
        except UnsafeLink as e:
            if _reportable(url, server, rule):
                refused.append(e.message)
            continue
        if good is None:
            good = conf
    return good, refused


def _reportable(url: str, server: Server, rule: LinkRule) -> bool:
    try:
        parts = urlsplit(url)
        host = _host(parts.hostname or "")
    except ValueError:
        return True
    if host != server.host or "@" in parts.netloc:
        return True
    return rule.reportable in parts.path
