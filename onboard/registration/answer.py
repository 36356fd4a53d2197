"""A registration server's JSON answer, or the error that says it was something else."""

from __future__ import annotations

from typing import Any

from onboard.errors import RegistrationError


def json_of(resp: Any, problem: RegistrationError) -> Any:
    """The decoded body of `resp`; `problem` raised if it is not JSON (an HTML error page, a proxy's)."""
    try:
        return resp.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the stack
        raise problem from None
