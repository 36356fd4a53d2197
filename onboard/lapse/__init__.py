"""`onboard check`: everything of a grid credential that can lapse, looked at once.

Each module gives Items: certificate (the local certificate's end, CMS's CRAB rule), trust (the trust
anchors' CRLs and CA certificates, the directory's age), hosts (the certificate each submit host holds:
the same one?), membership (what the VO's service tells a member about itself: end, suspension, AUP),
mail (the AUP and suspension mails, where the service itself tells nothing).
The command (onboard/commands/check.py) prints one line per item and turns the worst state into the
exit code. Local checks need no secret; network checks use the client certificate as the journey does
and never prompt when standard input is not a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from onboard.errors import Exit

OK, INFO, LAPSING, LAPSED, UNKNOWN, SKIPPED = "ok", "info", "lapsing", "lapsed", "unknown", "skipped"


@dataclass
class Item:
    what: str  # "certificate", "usercert.pem on host", "membership of cms", ...
    state: str  # one of the states above
    detail: str  # what was found
    todo: str = ""  # what to do about it (empty when nothing)
    when: datetime | None = None  # the date that matters (an end, a due date)
    vo: str = ""

    def as_json(self) -> dict:
        return {"what": self.what, "state": self.state, "detail": self.detail, "todo": self.todo,
                "when": self.when.isoformat(timespec="seconds") if self.when else None, "vo": self.vo}


def by_date(what: str, end: datetime, now: datetime, warn_days: int, *, lapsed_todo: str, lapsing_todo: str,
            vo: str = "", noun: str = "ends") -> Item:
    """An item whose state follows from one end date: lapsed once past, lapsing within `warn_days`."""
    days = (end - now).total_seconds() / 86400
    day = f"{end:%Y-%m-%d}"
    if days <= 0:
        return Item(what, LAPSED, f"{noun.replace('ends', 'ended')} {day}", lapsed_todo, end, vo)
    if days <= warn_days:
        return Item(what, LAPSING, f"{noun} {day}, in {int(days)} days", lapsing_todo, end, vo)
    return Item(what, OK, f"{noun} {day}, in {int(days)} days", "", end, vo)


def exit_code(items: list[Item]) -> int:
    """The worst state: lapsed, then lapsing, then unknown or skipped; 0 when every item is fine."""
    states = {i.state for i in items}
    if LAPSED in states:
        return Exit.LAPSED
    if LAPSING in states:
        return Exit.LAPSING
    if states & {UNKNOWN, SKIPPED}:
        return Exit.CHECK_UNKNOWN
    return Exit.OK
