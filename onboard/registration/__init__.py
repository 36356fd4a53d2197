"""Registering with a VO: VOMS-Admin, INDIGO IAM and VOMRS clients, the confirmation mail, approval polling.

Light at import: the clients (and requests) are imported by the steps that use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from onboard.errors import ConfigError

if TYPE_CHECKING:
    from onboard.config import Config

KINDS = ("voms-admin", "iam", "vomrs")


def _catalog_entry(vo: str) -> Any:
    """The shipped VO catalog's entry for `vo`, if onboard.catalog exists and knows it (it may not)."""
    try:
        catalog = importlib.import_module("onboard.catalog")
    except ImportError:
        return None
    for name in ("lookup", "get", "entry", "find"):
        fn = getattr(catalog, name, None)
        if callable(fn):
            try:
                return fn(vo)
            except (KeyError, LookupError):
                return None
            except Exception:  # a catalog problem must not hide the config
                return None
    table = getattr(catalog, "VOS", None) or getattr(catalog, "CATALOG", None)
    return table.get(vo) if isinstance(table, dict) else None


def _pick(entry: Any, *names: str) -> str:
    for n in names:
        value = entry.get(n) if isinstance(entry, dict) else getattr(entry, n, None)
        if isinstance(value, str) and value:
            return value
    return ""


def registration_url(cfg: Config, vo: str) -> str:
    """The VO's registration URL: config vos.<vo>.url first, then the shipped catalog."""
    entry = cfg.vos.get(vo)
    url = entry.url if entry and entry.url else ""
    if not url:
        cat = _catalog_entry(vo)
        if cat is not None:
            url = _pick(cat, "registration_url", "url", "voms_admin_url", "iam_url")
    if not url:
        raise ConfigError(
            f"no registration URL is known for VO '{vo}'.",
            f"Set vos.{vo}.url in the configuration (e.g. https://host:8443/voms/{vo}).",
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"vos.{vo}.url = {url!r} is not an https:// URL.",
            "Registration servers are reached over HTTPS with your certificate.",
        )
    return url.rstrip("/")


def registration_kind(cfg: Config, vo: str, workflow: str = "") -> str:
    """voms-admin, iam or vomrs: the workflow's name wins, then config, then the catalog."""
    if workflow in KINDS:
        return workflow
    entry = cfg.vos.get(vo)
    if entry is not None and "kind" in entry.model_fields_set:
        return entry.kind
    cat = _catalog_entry(vo)
    kind = _pick(cat, "kind", "registration", "type") if cat is not None else ""
    return kind if kind in KINDS else (entry.kind if entry else "voms-admin")
