"""What the fuzzers feed: four entry points of onboard that read bytes a stranger may have written.

Each target takes one input (bytes) and calls the product's public function the way onboard does.
The contract being checked: the function returns, or it raises an OnboardError with a one-line message
and a hint. Anything else escaping (IndexError, UnicodeDecodeError, a cryptography ValueError, ...) is
a bug, and so is an error without a message or hint.

- ``pkcs12``: ``onboard.credentials.load_pkcs12`` then ``check`` (what `onboard convert` does);
- ``pem``: ``onboard.credentials.load_pem`` (certificate and key in one file) then ``check``;
- ``mail``: a raw RFC 822 message as the mail adapter parses it, classified and searched for a
  confirmation link (``Registrar.classify_mail``, ``Registrar.find_confirmation``) for every service;
- ``page``: an HTTP answer (status line, headers, body) to VOMS-Admin's start page, classified by
  ``VomsAdmin.classify``;
- ``config``: a TOML file, optionally followed by ``#--env--`` and ONBOARD_* lines, given to
  ``onboard.config.load``;
- ``tarball``: a trust-anchor tarball (gzip, bzip2, xz or plain tar) as `onboard trust --install` and
  `onboard sandbox join` read it, ``onboard.pki.bundle.read_bundle``;
- ``known_hosts``: a known_hosts file as delivery reads it for a host, ``read_known_hosts``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from onboard.errors import OnboardError

# The product modules are imported inside each target, so that the fuzzer instruments only what a target
# reaches (instrumenting is slow) and a target's import errors are its own.

PASSPHRASE = "fuzz-pass"  # what the seed files are protected with

REGISTRATION = {
    "voms-admin": "https://voms.example.org:8443/voms/cms",
    "iam": "https://iam.example.org",
    "vomrs": "https://vomrs.example.org:8443/vo/cms/vomrs",
}


class ContractBroken(AssertionError):
    """An OnboardError that is not the documented kind of error: no message, no hint, several lines."""


def expected(e: OnboardError) -> None:
    if not (isinstance(e.message, str) and e.message.strip()):
        raise ContractBroken(f"{type(e).__name__} without a message") from e
    if not (isinstance(e.hint, str) and e.hint.strip()):
        raise ContractBroken(f"{type(e).__name__} without a hint: {e.message!r}") from e
    if "\n" in e.message or "\n" in e.hint:
        raise ContractBroken(f"{type(e).__name__} message or hint on several lines: {e.message!r}") from e


def guarded(fn: Callable[[bytes], Any]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        try:
            fn(data)
        except OnboardError as e:
            expected(e)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


# -- credentials ------------------------------------------------------------------------------------


def pkcs12(data: bytes) -> None:
    from onboard.credentials import readers

    cred = readers.load_pkcs12(data, PASSPHRASE, source="fuzz.p12")
    _use(cred)


def pem(data: bytes) -> None:
    from onboard.credentials import readers

    cred = readers.load_pem(data, None, PASSPHRASE, cert_source="fuzz.pem")
    _use(cred)


def _use(cred: Any) -> None:
    """What convert does with a loaded credential before writing anything: check it and name it."""
    from onboard.credentials import checks

    checks.check(cred, datetime.now(timezone.utc))  # the seeds are made valid from now on
    cred.subject_dn, cred.issuer_dn, cred.cn, cred.serial_hex, cred.sha256  # noqa: B018
    cred.package_friendly_name()


# -- mail -------------------------------------------------------------------------------------------


def mail(data: bytes) -> None:
    from onboard import registration
    from onboard.adapters import mail as mail_adapter

    msg = mail_adapter.parse_message(data)
    mail_adapter.Mail("1", msg).subject  # noqa: B018
    mail_adapter._date(msg)
    for kind, url in REGISTRATION.items():
        registrar = registration.get(kind)
        registrar.classify_mail(msg, "cms")
        registrar.find_confirmation(msg, url)


# -- registration page ------------------------------------------------------------------------------


class _Response:
    """Enough of requests.Response for VomsAdmin.classify."""

    def __init__(self, status: int, headers: dict[str, str], text: str, url: str):
        self.status_code = status
        self.headers = headers
        self.text = text
        self.url = url
        self.is_redirect = "Location" in headers and status in (301, 302, 303, 307, 308)


class _HTTP:
    def __init__(self, after_redirect: _Response):
        self.after_redirect = after_redirect
        self.gets = 0

    def get(self, url: str, **_: Any) -> _Response:
        self.gets += 1
        if self.gets > 3:
            raise AssertionError("classify keeps following redirects")
        return self.after_redirect


def parse_http(data: bytes, url: str) -> _Response:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, body = b"HTTP/1.1 200 OK", data
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        status = 200
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().title()] = value.strip()
    return _Response(status, headers, body.decode("utf-8", "replace"), url)


def page(data: bytes) -> None:
    from onboard.registration import voms_admin

    url = REGISTRATION["voms-admin"] + "/register/start.action"
    resp = parse_http(data, url)
    client = voms_admin.VomsAdmin(_HTTP(parse_http(data.partition(b"\r\n\r\n")[2], url)), url)  # type: ignore[arg-type]
    start = client.classify(resp)
    if start.page is not None:
        voms_admin.format_errors(start.page)


# -- configuration ----------------------------------------------------------------------------------


def _config_dir() -> Path:
    """Where the config target writes its file: the driver's work directory (libFuzzer ends the process
    without Python's atexit), else a private temporary directory removed at exit."""
    if os.environ.get("ONBOARD_FUZZ_TMP"):
        return Path(os.environ["ONBOARD_FUZZ_TMP"])
    d = Path(tempfile.mkdtemp(prefix="onboard-fuzz-"))
    atexit.register(shutil.rmtree, d, True)
    return d


_CONFIG_DIR: Path | None = None
ENV_MARK = b"\n#--env--\n"


def config(data: bytes) -> None:
    from onboard import config as config_mod

    toml, _, env_part = data.partition(ENV_MARK)
    global _CONFIG_DIR
    _CONFIG_DIR = _CONFIG_DIR or _config_dir()
    path = _CONFIG_DIR / "config.toml"
    path.write_bytes(toml)
    environ: dict[str, str] = {}
    for line in env_part.decode("utf-8", "surrogateescape").splitlines():
        name, sep, value = line.partition("=")
        # os.environ can hold neither NUL nor '=' in a name; ONBOARD_CONFIG would point elsewhere
        if sep and name and "\0" not in line and name != "ONBOARD_CONFIG":
            environ[name] = value
    environ["ONBOARD_CONFIG"] = str(path)
    config_mod.load(None, environ)


def tarball(data: bytes) -> None:
    from onboard.pki import bundle

    global _CONFIG_DIR
    _CONFIG_DIR = _CONFIG_DIR or _config_dir()
    path = _CONFIG_DIR / "bundle.tar"
    path.write_bytes(data)
    bundle.read_bundle(path)


def known_hosts(data: bytes) -> None:
    from onboard.adapters.known_hosts import read_known_hosts

    global _CONFIG_DIR
    _CONFIG_DIR = _CONFIG_DIR or _config_dir()
    path = _CONFIG_DIR / "known_hosts"
    path.write_bytes(data)
    for host, port in (("submit.example.org", 22), ("127.0.0.1", 2222)):
        read_known_hosts([path], host, port, strict=frozenset({path}))


RAW: dict[str, Callable[[bytes], Any]] = {
    fn.__name__: fn for fn in (pkcs12, pem, mail, page, config, tarball, known_hosts)
}
TARGETS: dict[str, Callable[[bytes], None]] = {name: guarded(fn) for name, fn in RAW.items()}


def broken(data: bytes) -> None:
    """Not a product target: shows the harness reports a crash (tests/fuzz/test_fuzz.py)."""
    if len(data) % 3 == 0:
        raise IndexError("planted bug")


EVERY = {**TARGETS, "broken": guarded(broken)}
