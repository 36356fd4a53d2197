"""A VOMS-Admin (2.x/3.x) registration client: the pages of /voms/<vo>/register/, as a browser uses them.

The start page tells where the certificate stands (form, waits-confirmation, limbo, member, disabled);
the form carries a Struts token tied to the JSESSIONID cookie (the HTTPS session keeps it). A request
is submitted only from a freshly shown form, so an existing request is never submitted twice.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from onboard.errors import Exit, OnboardError, RegistrationError
from onboard.registration import html
from onboard.registration.answer import json_of

if TYPE_CHECKING:
    from onboard.adapters.https import HTTPS
    from onboard.config import User


class FormError(OnboardError):
    exit_code = Exit.FORM
    default_hint = "Fix the values in the [user] section of the configuration, then `onboard resume`."


class Start(enum.Enum):
    FORM = "form"  # no request: never submitted, rejected, or expired
    WAITS_CONFIRMATION = "waits-confirmation"  # SUBMITTED: the e-mail link is still to be opened
    LIMBO = "limbo"  # CONFIRMED/PENDING: an administrator decides
    MEMBER = "member"  # the certificate belongs to a VO user
    DISABLED = "disabled"
    UNKNOWN = "unknown"


# phrases of the JSPs (reference §1.6); matched case-insensitively on the visible text
WAITS_CONFIRMATION = ("still waiting for you to confirm it", "Check your inbox")
LIMBO = ("is being handled by the VO administrators",)
DISABLED = ("registration service for this VO is currently disabled",)
CONFIRMATION_REQUIRED = ("Confirmation required", "An email has been sent to you with instructions")
CONFIRMED = (
    "VO membership request confirmed",
    "You have succesfully confirmed",
    "You have successfully confirmed",
)
ALREADY_CONFIRMED = ("has already been confirmed",)
WRONG_CONFIRMATION = ("Wrong confirmation id",)
PLUGIN_ERROR = ("Memberhsip request validation error", "Membership request validation error")
CANCELLED = ("VO membership request cancelled",)

SAFE_TEXT = re.compile(r"^[^<>&=;]*$")  # the server's rule for name, surname, phone, address, message
SAFE_INSTITUTION = re.compile(r"^[^<>=;]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EXPIRES = re.compile(r"before the following date:\s*(.+?)\s+or your request", re.I | re.S)

# form field -> (config key, label, pattern)
FIELDS: dict[str, tuple[str, str, re.Pattern[str]]] = {
    "name": ("user.given_name", "Given name", SAFE_TEXT),
    "surname": ("user.family_name", "Family name", SAFE_TEXT),
    "institution": ("user.institution", "Institution", SAFE_INSTITUTION),
    "phoneNumber": ("user.phone", "Phone number", SAFE_TEXT),
    "address": ("user.address", "Address", SAFE_TEXT),
    "emailAddress": ("user.email", "Email address", EMAIL),
    "userMessage": ("registration.message", "Message for VO administrator", SAFE_TEXT),
}


@dataclass
class StartPage:
    kind: Start
    page: html.Page | None = None
    form: html.Form | None = None
    location: str = ""
    status: int = 200


@dataclass
class SubmitResult:
    kind: str  # "submitted" | "existing-unconfirmed" | "existing-pending" | "member"
    expires: str = ""  # as the server printed it
    submitted: bool = False


@dataclass
class UserInfo:
    status: int  # HTTP status
    user: dict[str, Any] | None = None  # VOMSUserJSON: the certificate belongs to a member
    refused: str = ""  # the server does not let us read it (why, for the log)


@dataclass
class ConfirmResult:
    kind: str  # "confirmed" | "already-confirmed"
    manager: str = ""
    groups: list[str] = field(default_factory=list)


def base_path(path: str) -> str:
    """/voms/<vo> from any path under it (the configured URL may end in /register/...)."""
    m = re.match(r"^(/voms/[^/]+)", path)
    return m.group(1) if m else path.rstrip("/")


def base_url(url: str) -> str:
    """https://host:8443/voms/vo from any URL under it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{base_path(parts.path)}"


def vo_of(url: str) -> str:
    m = re.match(r"^/voms/([^/]+)", urlsplit(url).path)
    return m.group(1) if m else ""


RECORD_FIELDS = ("id", "certificates", "fqans")  # VOMSUserJSON: what a member's record always carries

MAX_START_REDIRECTS = 3  # start.action to start.action again, e.g. a query added


class VomsAdmin:
    def __init__(self, http: HTTPS, url: str):
        self.http = http
        self.base = base_url(url)
        self.vo = vo_of(self.base)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    # -- start page ------------------------------------------------------------------------------
    def start(self) -> StartPage:
        """One request: GET register/start.action, classified. A redirect to user/home means member."""
        resp = self.http.get(self.url("register/start.action"))
        return self.classify(resp)

    def classify(self, resp: Any, hops: int = 0) -> StartPage:
        if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
            loc = urljoin(resp.url, resp.headers.get("Location", ""))
            path = urlsplit(loc).path
            if path.endswith("/user/home.action") or path.endswith("/user/home"):
                return StartPage(Start.MEMBER, location=loc, status=resp.status_code)
            # the start page again (another query, http -> https): follow, but not around a loop
            if path.endswith("/register/start.action") and resp.url != loc and hops < MAX_START_REDIRECTS:
                return self.classify(self.http.get(loc), hops + 1)
            raise RegistrationError(
                f"{self.host}: the start page redirected to {loc}.",
                "The registration URL may be wrong (vos.<vo>.url); open it in a browser.",
            )
        _check_status(resp, self.host)
        page = html.parse(resp.text)
        form = next((f for f in page.forms if "submit-request" in f.action), None)
        if page.has(*DISABLED):
            return StartPage(Start.DISABLED, page)
        if page.has(*WAITS_CONFIRMATION):
            return StartPage(Start.WAITS_CONFIRMATION, page)
        if page.has(*LIMBO):
            return StartPage(Start.LIMBO, page)
        if form is not None:
            return StartPage(Start.FORM, page, form)
        return StartPage(Start.UNKNOWN, page, status=resp.status_code)

    @property
    def host(self) -> str:
        return urlsplit(self.base).netloc

    # -- submission ------------------------------------------------------------------------------
    def fill(self, form: html.Form, user: User, message: str = "") -> list[tuple[str, str]]:
        """The form's values: hidden fields (token) as given, ours from the config, checked locally first."""
        values = {
            "name": user.given_name,
            "surname": user.family_name,
            "institution": user.institution,
            "phoneNumber": user.phone,
            "address": user.address,
            "emailAddress": user.email,
            "userMessage": message,
        }
        present = form.names()
        problems: list[str] = []
        data: list[tuple[str, str]] = []
        for name, value in form.defaults():
            if name in values or name in ("aupAccepted", "__checkbox_aupAccepted"):
                continue
            data.append((name, value))  # struts.token.name, token, and anything else hidden
        for name, value in values.items():
            if name not in present:
                continue  # this VO does not ask for it
            key, label, pattern = FIELDS[name]
            value = value.strip()
            required = name in ("name", "surname", "emailAddress") or (
                name in ("institution", "phoneNumber", "address")
            )  # rendered = required (reference §1.3)
            if not value and required:
                problems.append(f"{label} is required (set {key})")
            elif value and not pattern.match(value):
                problems.append(
                    f"{label} {value!r} is not accepted by VOMS-Admin "
                    f"({'an e-mail address' if name == 'emailAddress' else 'no < > & = ;'}; set {key})"
                )
            data.append((name, value))
        if problems:
            raise FormError("the registration form cannot be filled: " + "; ".join(problems) + ".")
        if "aupAccepted" in present or form.choices("aupAccepted"):
            data += [("aupAccepted", "true"), ("__checkbox_aupAccepted", "true")]
        return data

    def submit(self, user: User, message: str = "", start: StartPage | None = None) -> SubmitResult:
        """Submit a request unless one exists already (the start page says so)."""
        start = start or self.start()
        if start.kind is Start.MEMBER:
            return SubmitResult("member")
        if start.kind is Start.WAITS_CONFIRMATION:
            return SubmitResult("existing-unconfirmed")
        if start.kind is Start.LIMBO:
            return SubmitResult("existing-pending")
        if start.kind is Start.DISABLED:
            raise RegistrationError(
                f"registration for VO {self.vo} is disabled on {self.host}.",
                "Ask the VO's administrators how to join; `onboard resume` tries again.",
            )
        if start.kind is not Start.FORM or start.form is None:
            raise RegistrationError(
                f"{self.host}: the registration start page is not one onboard knows "
                f"({(start.page.title if start.page else '') or 'no title'}).",
                "Open the registration URL in a browser to see what it asks.",
            )
        data = self.fill(start.form, user, message)
        action = urljoin(self.url("register/start.action"), start.form.action or "submit-request.action")
        resp = self.http.post(
            action,
            data=data,
            idempotent=False,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": self.url("register/start.action"),
            },
        )
        if resp.is_redirect:
            after = self.classify(resp)
            if after.kind is Start.MEMBER:
                return SubmitResult("member", submitted=True)
        _check_status(resp, self.host)
        page = html.parse(resp.text)
        if page.has(*CONFIRMATION_REQUIRED):
            m = _EXPIRES.search(page.text)
            return SubmitResult("submitted", expires=m.group(1).strip() if m else "", submitted=True)
        if page.has(*WAITS_CONFIRMATION):
            return SubmitResult("existing-unconfirmed")
        if page.has(*LIMBO):
            return SubmitResult("existing-pending")
        if page.has(*PLUGIN_ERROR):
            raise FormError(
                f"{self.host} refused the request: {_excerpt(page)}.",
                "The VO checks registrations against its own records; contact its administrators.",
            )
        if page.has(*DISABLED):
            raise RegistrationError(
                f"registration for VO {self.vo} is disabled on {self.host}.",
                "Ask the VO's administrators how to join.",
            )
        if page.errors or page.form("submit-request"):
            raise FormError(f"{self.host} refused the form: {format_errors(page)}.")
        raise RegistrationError(
            f"{self.host}: unexpected answer to the registration form ({_excerpt(page)}).",
            "Open the registration URL in a browser to see where the request stands.",
        )

    # -- confirmation ----------------------------------------------------------------------------
    def confirm(
        self, link: str, *, choose_manager: Any = None, groups: list[str] | None = None
    ) -> ConfirmResult:
        """Open the e-mail's link (already checked by links.py) and answer the forms that may follow."""
        resp = self.http.get(link)
        if resp.is_redirect:
            resp = self.http.get(urljoin(link, resp.headers.get("Location", "")))
        result = ConfirmResult("confirmed")
        for _ in range(4):  # confirm -> select-manager -> request-attributes -> confirmed, at most
            _check_status(resp, self.host)
            page = html.parse(resp.text)
            if page.has(*CONFIRMED):
                return result
            if page.has(*ALREADY_CONFIRMED):
                result.kind = "already-confirmed"
                return result
            if page.has(*WRONG_CONFIRMATION):
                raise RegistrationError(
                    f"{self.host} says the confirmation id is wrong.",
                    "Use the link of the most recent mail; if it still fails, register again.",
                )
            form = page.form("select-manager")
            if form is not None:
                data, result.manager = self._select_manager(form, choose_manager)
            else:
                form = page.form("request-attributes")
                if form is None:
                    if not page.forms and page.has("not found", "no request", "expired"):
                        raise RegistrationError(
                            f"{self.host}: the request of this link no longer exists ({_excerpt(page)}).",
                            "It expired or was cancelled; register again.",
                            exit_code=Exit.EXPIRED,
                        )
                    raise RegistrationError(
                        f"{self.host}: unexpected answer to the confirmation link ({_excerpt(page)}).",
                        "Open the link in a browser with your certificate.",
                    )
                data, result.groups = self._request_attributes(form, groups or [])
            action = urljoin(resp.url or link, form.action)
            resp = self.http.post(
                action,
                data=data,
                idempotent=False,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            if resp.is_redirect:
                resp = self.http.get(urljoin(action, resp.headers.get("Location", "")))
        raise RegistrationError(
            f"{self.host}: the confirmation did not finish after several forms.",
            "Open the confirmation link in a browser with your certificate.",
        )

    def _select_manager(self, form: html.Form, choose: Any) -> tuple[list[tuple[str, str]], str]:
        # the name the page shows: a label where there is one, else (upstream's selectManager.jsp) the
        # first other cell of the radio button's row; the description (next cell) is shown, never matched
        options = [(f.value, _shown(f)) for f in form.choices("managerId")]
        select = form.field("managerId")
        if select is not None and select.type == "select":
            options = select.options
        data = [(n, v) for n, v in form.defaults() if n != "managerId"]
        if not options:
            return data, ""
        value = choose(options) if choose else None
        if value is None:
            value = options[0][0] if len(options) == 1 else None
        if value is None:
            raise FormError(
                "the VO asks you to choose a group manager, and none was chosen.",
                "Set registration.group_manager to the name (or e-mail) of one of: "
                + ", ".join(t for _, t in options)
                + ".",
            )
        label = next((manager_name(t) for v, t in options if v == value), value)
        return data + [("managerId", value)], label

    def _request_attributes(
        self, form: html.Form, wanted: list[str]
    ) -> tuple[list[tuple[str, str]], list[str]]:
        boxes = form.choices("requestedGroups")
        chosen = [f.value for f in boxes if f.value in wanted or f.value.strip("/").split("/")[-1] in wanted]
        data = [(n, v) for n, v in form.defaults() if n != "requestedGroups"]
        return data + [("requestedGroups", g) for g in chosen], chosen

    def cancel(self, link: str) -> bool:
        resp = self.http.get(link)
        _check_status(resp, self.host)
        return html.parse(resp.text).has(*CANCELLED)

    # -- after confirmation ----------------------------------------------------------------------
    def user_info(self, dn: str, ca: str) -> UserInfo:
        """One request to apiv2/user-info: the certificate's user once a member, none before (404), or
        the server's refusal to say (401/403, or 200 with an exception report: read access removed)."""
        url = self.url("apiv2/user-info.action") + "?" + urlencode({"dn": dn, "ca": ca})
        resp = self.http.get(url, headers={"X-VOMS-CSRF-GUARD": "1", "Accept": "application/json"})
        if resp.status_code == 404:
            return UserInfo(404)
        if resp.status_code in (401, 403):
            return UserInfo(resp.status_code, refused=f"apiv2/user-info refused us (HTTP {resp.status_code})")
        _check_status(resp, self.host)
        data = json_of(resp, RegistrationError(
            f"{self.host}: apiv2/user-info did not answer JSON.",
            "The server may not be VOMS-Admin 3; polling falls back to the start page.",
        ))
        if isinstance(data, dict) and "exceptionClass" in data:  # an error report, whatever the status
            name = str(data["exceptionClass"]).rsplit(".", 1)[-1]
            if "Authorization" in name:
                return UserInfo(resp.status_code, refused=f"apiv2/user-info refused us ({name})")
            return UserInfo(resp.status_code)  # another error: no answer about membership
        # the record stands at the top level (UserInfoAction's JSON result has `userInfo` as its root);
        # anything without a record's fields is no answer
        record = isinstance(data, dict) and any(k in data for k in RECORD_FIELDS)
        return UserInfo(resp.status_code, data if record else None)


def _shown(f: html.Field) -> str:
    name = f.label or (f.row[0] if f.row else "") or f.value
    rest = [t for t in f.row if t != name][:1]
    return f"{name} ({rest[0]})" if rest else name


def manager_name(text: str) -> str:
    """The name in what _shown made of a choice (its description cut off)."""
    return text.split(" (", 1)[0]


def format_errors(page: html.Page) -> str:
    if not page.errors:
        return _excerpt(page)
    labels = {
        n: next((f.label for form in page.forms for f in form.fields if f.name == n and f.label), n)
        for n, _ in page.errors
    }
    return "; ".join(f"{labels.get(n) or n}: {msg}" if n else msg for n, msg in page.errors)


def _excerpt(page: html.Page) -> str:
    text = page.title or page.text
    return (text[:157] + "...") if len(text) > 160 else text or "an empty page"


def _check_status(resp: Any, host: str) -> None:
    if resp.status_code >= 500:
        raise RegistrationError(
            f"{host} answered HTTP {resp.status_code}.",
            "The registration server has a problem; `onboard resume` tries again later.",
        )
    if resp.status_code >= 400:
        raise RegistrationError(
            f"{host} answered HTTP {resp.status_code} for {urlsplit(resp.url).path}.",
            "Check the registration URL (vos.<vo>.url).",
        )
