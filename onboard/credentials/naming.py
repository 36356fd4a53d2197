"""File names for a credential: `<kind>-<n>.<ext>` where <n> comes from the CN (and the issue date).

Unlike tcsg4-install-credential.sh, a non-ASCII CN is transliterated (José Pérez -> Jose_Perez), never
cut short at the first accented letter.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FORMATS = ("dated", "cn", "plain")

# letters that Unicode does not decompose into an ASCII base letter plus accents
_SPECIAL = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "Th",
        "ı": "i",
        "ħ": "h",
        "Ħ": "H",
        "ŀ": "l",
        "Ŀ": "L",
        "ŋ": "ng",
        "Ŋ": "NG",
        "ĸ": "k",
    }
)
_UNSAFE = re.compile(r"[^-A-Za-z0-9_]")


def transliterate(text: str) -> str:
    """ASCII letters for accented ones (é -> e, ß -> ss); other non-ASCII characters become '_'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        out.append(ch if ch.isascii() else "_")
    return "".join(out)


def sanitize(text: str) -> str:
    """Transliterate, then everything outside [-A-Za-z0-9_] becomes '_' (tcsg4's rule)."""
    return _UNSAFE.sub("_", transliterate(text))


def issue_date(when: datetime) -> str:
    """'5 Nov 2026': day without leading zero, English month, year (tcsg4's friendly-name date)."""
    return f"{when.day} {MONTHS[when.month - 1]} {when.year}"


def stem(cn: str, not_before: datetime, name_format: str, plain: str) -> str:
    """<n> for the given format; `plain` is the input file's name without extension."""
    if name_format == "plain" or not cn:
        return sanitize(plain) or "credential"
    base = sanitize(cn)
    if name_format == "cn":
        return base
    if name_format == "dated":
        return f"{base}_issued_{issue_date(not_before).replace(' ', '_')}"
    raise ValueError(f"unknown name format {name_format!r}")


def friendly_name(cn: str, not_before: datetime) -> str:
    return f"{cn} issued {issue_date(not_before)}"
