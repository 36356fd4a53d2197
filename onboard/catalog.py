"""The VO catalog: the VOs newcomers join, shipped as data (onboard/data/vos.toml), with config overrides.

`lookup(vo, cfg)` gives one VO's entry: the shipped values, with every key that config `[vos.<vo>]` sets
laid over them (config alone may also define a VO the catalog lacks). The vomses and LSC formats are
those voms-proxy-init reads (vomses(5), vomsdir(5)); `problems()` checks an entry against them.

Imports nothing heavy: `onboard vos` must start fast.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KINDS = ("voms-admin", "iam", "vomrs")
# how a person registers with an IAM instance: "" (onboard sends the request, POST /registration/create) or
# "browser-login" (the instance registers only people logged in through an external identity provider,
# as CERN's `cern` profile does: onboard guides the browser steps and never posts the request itself)
REGISTRATIONS = ("", "browser-login")
GUIDED_KIND = "iam-browser-login"  # registrar and workflow of an IAM VO with registration = "browser-login"
GUIDED = {("iam", "browser-login"): GUIDED_KIND}  # (kind, registration) -> the registrar that guides
# registration services retired upstream: what `onboard vos` says of any VO configured with one
RETIRED_KINDS = {
    "vomrs": "VOMRS is retired upstream (its VOs moved to VOMS-Admin, then IAM); onboard keeps it for the "
    "sandbox and old instances only",
}
DATA = Path(__file__).resolve().parent / "data" / "vos.toml"
_VOMSES_FIELD = re.compile(r'"([^"]*)"')
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_VO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# slash form; a value may itself hold a '/' (KEK's ".../CN=host/voms.cc.kek.jp"), which voms-proxy-init
# compares as text like the rest, so only the start is checked, and that no control character hides in it
_DN = re.compile(r"^/[A-Za-z][A-Za-z0-9.]*=[^\x00-\x1f\x7f]*$")


@dataclass(frozen=True)
class VomsesLine:
    alias: str
    host: str
    port: int
    dn: str
    vo: str

    def __str__(self) -> str:
        return f'"{self.alias}" "{self.host}" "{self.port}" "{self.dn}" "{self.vo}"'


def parse_vomses(line: str) -> VomsesLine:
    """One vomses line: "alias" "host" "port" "server DN" "vo" (an old sixth field is tolerated)."""
    text = line.strip()
    fields = _VOMSES_FIELD.findall(text)
    if _VOMSES_FIELD.sub("", text).strip():
        raise ValueError("every field must be in double quotes, separated by spaces")
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 quoted fields (alias host port DN vo), found {len(fields)}")
    alias, host, port, dn, vo = fields[:5]
    if not _HOST.match(host):
        raise ValueError(f"host '{host}' is not a host name")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port '{port}' is not a port number")
    if not _DN.match(dn):
        raise ValueError(f"server DN '{dn}' is not in OpenSSL slash form (/DC=ch/DC=cern/CN=...)")
    if not _VO.match(vo) or not alias:
        raise ValueError(f"VO name '{vo}' or alias '{alias}' is not valid")
    return VomsesLine(alias, host, int(port), dn, vo)


def check_lsc(lines: list[str]) -> None:
    """An LSC file: the VOMS server's DN, then its CA's DN (and intermediates), one per line, slash form."""
    if len(lines) < 2:
        raise ValueError("an LSC needs at least two DN lines: the server's DN, then its CA's DN")
    for dn in lines:
        if not _DN.match(dn):
            raise ValueError(f"'{dn}' is not a DN in OpenSSL slash form")


@dataclass
class VOEntry:
    name: str
    kind: str = "voms-admin"
    url: str = ""
    registration: str = ""  # REGISTRATIONS: "browser-login" for IAM instances that want a login first
    vomses: list[str] = field(default_factory=list)
    lsc: dict[str, list[str]] = field(default_factory=dict)
    requirements: str = ""
    title: str = ""
    grid: str = ""
    notes: str = ""
    checked: str = ""
    # the VO's OIDC token issuer (its IAM, WLCG token profile): `onboard tokens` and the IAM journey's step
    token_issuer: str = ""
    data_from: str = ""  # where the vomses and LSC values came from (repository and files, or a vo-client)
    source: str = "catalog"  # catalog, config, or catalog+config

    @property
    def service(self) -> str:
        """The registrar and workflow this VO needs: its kind, or GUIDED_KIND for a login-first IAM."""
        return service_kind(self.kind, self.registration)

    def vomses_lines(self) -> list[VomsesLine]:
        return [parse_vomses(v) for v in self.vomses]

    def lsc_text(self, host: str) -> str:
        return "\n".join(self.lsc[host]) + "\n"

    def problems(self) -> list[str]:
        out = []
        if self.kind not in KINDS:
            out.append(f"kind '{self.kind}' is not one of {', '.join(KINDS)}")
        if self.registration not in REGISTRATIONS:
            known = ", ".join(filter(None, REGISTRATIONS))
            out.append(f"registration '{self.registration}' is not one of {known}")
        elif self.registration and (self.kind, self.registration) not in GUIDED:
            out.append(f"registration '{self.registration}' is for IAM instances, not {self.kind}")
        if self.url and not self.url.startswith("https://"):
            out.append(f"url '{self.url}' is not an https:// address")
        if self.token_issuer and not self.token_issuer.startswith("https://"):
            out.append(f"token_issuer '{self.token_issuer}' is not an https:// address")
        hosts = set()
        for line in self.vomses:
            try:
                parsed = parse_vomses(line)
            except ValueError as e:
                out.append(f"vomses line {line!r}: {e}")
                continue
            hosts.add(parsed.host)
            if parsed.vo != self.name:
                out.append(f"vomses line names VO '{parsed.vo}', not '{self.name}'")
            if parsed.host in self.lsc and self.lsc[parsed.host][0] != parsed.dn:
                out.append(f"LSC for {parsed.host} starts with another DN than its vomses line")
        for host, lines in self.lsc.items():
            try:
                check_lsc(lines)
            except ValueError as e:
                out.append(f"LSC for {host}: {e}")
            if not _HOST.match(host):
                out.append(f"LSC host '{host}' is not a host name")
        missing = hosts - set(self.lsc)
        if missing:
            out.append(f"no LSC for {', '.join(sorted(missing))}")
        return out


_FIELDS = {"kind", "url", "registration", "vomses", "lsc", "requirements", "title", "grid", "notes",
           "checked", "data_from", "token_issuer"}


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, dict[str, Any]]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


UPDATED_KEYS = ("vomses", "lsc", "data_from", "checked")  # what `onboard vos --update` may lay over


def shipped(path: Path | None = None) -> dict[str, VOEntry]:
    """Every VO of the shipped catalog (or of `path`); the shipped one with the vomses and LSC values of
    `onboard vos --update` (the user's data directory) laid over it."""
    data = _load(path or DATA)
    out = {}
    for name, table in data.items():
        unknown = set(table) - _FIELDS
        if unknown:
            raise ValueError(f"{path or DATA}: [{name}]: unknown key {sorted(unknown)[0]}")
        out[name] = VOEntry(name=name, **{k: v for k, v in table.items()})
    if path is None:
        for name, table in overlay_tables().items():
            if name in out and isinstance(table, dict):
                for key in UPDATED_KEYS:
                    if key in table:
                        setattr(out[name], key, table[key])
    return out


def overlay_file() -> Path:
    from onboard import paths

    return Path(paths.locate("data")) / "vos.toml"


def overlay_tables(path: Path | None = None) -> dict[str, Any]:
    """The tables `onboard vos --update` wrote, {} when it never ran."""
    path = path or overlay_file()
    try:
        st = path.stat()
    except OSError:
        return {}
    return _load_overlay(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _load_overlay(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    from onboard.errors import ConfigError

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(
            f"{path} (written by `onboard vos --update`) cannot be read: {e}.",
            "Delete it to use the shipped catalog, or run `onboard vos --update` again.",
        ) from None


def forget() -> None:
    """Drop what was read (after `onboard vos --update` wrote the overlay)."""
    _load_overlay.cache_clear()


def _overrides(cfg: Any, vo: str) -> dict[str, Any]:
    entry = getattr(cfg, "vos", {}).get(vo) if cfg is not None else None
    if entry is None:
        return {}
    if hasattr(entry, "model_fields_set"):  # the pydantic config model: only keys the user set
        return {k: getattr(entry, k) for k in entry.model_fields_set}
    return dict(entry)


def lookup(vo: str, cfg: Any = None) -> VOEntry | None:
    """The VO's entry: the catalog's, with config `[vos.<vo>]` laid over it; None if neither knows it."""
    base = shipped().get(vo)
    over = _overrides(cfg, vo)
    if base is None and not over and (cfg is None or vo not in getattr(cfg, "vos", {})):
        return None
    if base is None:
        entry = VOEntry(name=vo, source="config")
    else:
        entry = VOEntry(**{**base.__dict__})
        entry.vomses, entry.lsc = list(base.vomses), dict(base.lsc)
        if over:
            entry.source = "catalog+config"
    for key, value in over.items():
        setattr(entry, key, value)
    if "url" in over and base is not None and over["url"] != base.url:
        # another server than the catalog's (a sandbox, a test instance): its address tells its kind
        if "kind" not in over:
            entry.kind = kind_from_url(over["url"]) or entry.kind
        if "token_issuer" not in over:  # the catalog's issuer is the real server's, not this one's
            entry.token_issuer = ""
    return entry


def service_kind(kind: str, registration: str = "") -> str:
    """voms-admin, iam, vomrs, or GUIDED_KIND for an IAM instance that registers only after a login."""
    return GUIDED.get((kind, registration), kind)


def kind_from_url(url: str) -> str:
    """voms-admin for .../voms/<vo>, vomrs for .../vo/<vo>/vomrs, "" when the address does not say."""
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    if "/vomrs" in path:
        return "vomrs"
    if path.startswith("/voms/"):
        return "voms-admin"
    return ""


def all_entries(cfg: Any = None) -> list[VOEntry]:
    names = set(shipped()) | set(getattr(cfg, "vos", {}) if cfg is not None else {})
    return [e for e in (lookup(n, cfg) for n in sorted(names)) if e is not None]
