"""The registration form's checks, with Struts' messages."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onboard.sandbox.web import Request

_BAD_CHARS = re.compile(r"^[^<>&=;]*$")
_BAD_CHARS_INSTITUTION = re.compile(r"^[^<>=;]*$")
# Struts' EmailValidator pattern, in substance
# Struts' EmailValidator pattern, in substance
_EMAIL = re.compile(r"^[_A-Za-z0-9+'-]+(\.[_A-Za-z0-9+'-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def validate(req: Request, required: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    names = ["name", "surname", "institution", "phoneNumber", "address", "emailAddress", "userMessage"]
    values = {n: (req.param(n) or "") for n in names}
    aup = req.param("aupAccepted")
    if aup is None and req.param("__checkbox_aupAccepted") is not None:
        aup = "false"  # Struts' checkbox interceptor: an unchecked box arrives as "false"
    values["aupAccepted"] = aup or ""
    errors: dict[str, list[str]] = {}

    def add(field: str, msg: str) -> None:
        errors.setdefault(field, []).append(msg)

    for field, word in (("name", "name"), ("surname", "surname")):
        if not values[field].strip():
            add(field, f"Please enter your {word}.")
        elif not _BAD_CHARS.match(values[field]):
            add(field, "You entered invalid characters.")
    for field, word, rx in (
        ("institution", "institution", _BAD_CHARS_INSTITUTION),
        ("address", "address", _BAD_CHARS),
        ("phoneNumber", "phone number", _BAD_CHARS),
    ):
        if field in required and not values[field].strip():
            add(field, f"Please enter your {word}.")
        elif values[field] and not rx.match(values[field]):
            add(field, "You entered invalid characters.")
    if not values["emailAddress"].strip():
        add("emailAddress", "Please enter your email address.")
    elif not _EMAIL.match(values["emailAddress"].strip()):
        add("emailAddress", "Please enter a valid email address.")
    if aup is None:
        add("aupAccepted", "You must sign the AUP.")
    elif aup != "true":
        add("aupAccepted", "You must accept the terms of the AUP to proceed")
    if values["userMessage"] and not _BAD_CHARS.match(values["userMessage"]):
        add("userMessage", "You entered invalid characters.")
    return values, errors
