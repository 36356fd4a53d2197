"""The version of the journey record's JSON and the migrations from each older version.

Apart from state.py (pydantic) so that store.py can check and migrate a record without pydantic:
`onboard status` reads the record through store.py and must start fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 2


# each takes the JSON of schema N and returns that of N+1

def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 kept a single `next_check_after` and `wait_reason`; v2 keeps one Wait per waiting state.
    data = dict(data)
    nca = data.pop("next_check_after", None)
    reason = data.pop("wait_reason", "")
    waits: dict[str, Any] = {}
    if nca or reason:
        st = data.get("state")
        key = st[-1] if isinstance(st, list) else st
        waits[key] = {
            "what": reason or "the outside world",
            "since": data.get("updated"),
            "next_check_after": nca,
        }
    data["waits"] = waits
    data["schema_version"] = 2
    return data


MIGRATIONS = {1: _v1_to_v2}
