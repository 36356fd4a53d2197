"""IAM's username rule (UsernameValidator.java): a POSIX-like account name in lower case, at most 32
characters: `[a-z_]` first, then `[a-z0-9_@.-]`, a trailing `$` allowed. IAM refuses anything else,
capitals included, with HTTP 400."""

from __future__ import annotations

import re

RULE = re.compile(r"[a-z_](?:[a-z0-9_@.-]{0,31}|[a-z0-9_@.-]{0,30}\$)")
_NOT_KEPT = re.compile(r"[^a-z0-9_.-]")  # '@' is allowed by the rule, but never kept from a local part
_BAD_START = re.compile(r"^[^a-z_]+")


def valid(name: str) -> bool:
    return RULE.fullmatch(name) is not None


def derive(email: str) -> str:
    """A valid username from an e-mail address's local part (Jane.Doe@x -> jane.doe), or "" if none can
    be made (e.g. a local part of digits and symbols only)."""
    import unicodedata

    # accents dropped rather than letters (Élodie -> elodie), then what the rule does not allow
    local = unicodedata.normalize("NFKD", email.rsplit("@", 1)[0]).encode("ascii", "ignore").decode().lower()
    name = _BAD_START.sub("", _NOT_KEPT.sub("", local))[:32]
    return name if valid(name) else ""
