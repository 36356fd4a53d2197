"""What the VO's service tells a member about itself: the membership's end, a suspension, the AUP.

VOMS-Admin: apiv2/user-info for one's own certificate (italiangrid/voms-admin-server UserInfoAction,
VOMSUserJSON; a member may always read its own record, FindUserOperation) carries endTime, suspended,
suspensionReasonCode/suspensionReason, aupAcceptanceRecords (valid, daysBeforeExpiration) and
pendingSignAUPTask (expirationDate). A VO may refuse even that (an HTTP 200 whose body reports a
VOMSAuthorizationException, or 401/403): then the state is unknown, never fine.

The registrar of the journey's service reads it (Registrar.member_record): VOMS-Admin's from user-info;
IAM (indigo-iam/iam) gives the account's state and the AUP signature (GET /scim/Me, GET
/iam/aup/signature) only to a logged-in session or an OAuth token (IamApiSecurityConfig: the X.509
filter sits in the login chain only), so its registrar asks the VOMS-AA instead, which answers the
certificate: attributes, or a refusal in IAM's words (mapped by delivery/lapse_messages); VOMRS tells
nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from onboard.delivery import lapse_messages
from onboard.errors import MissingInput, OnboardError
from onboard.lapse import INFO, LAPSED, LAPSING, OK, SKIPPED, UNKNOWN, Item, by_date

VO_ADMINS = "Ask the VO's administrators"


def _date(text: Any) -> datetime | None:
    """Struts JSON dates (yyyy-MM-dd'T'HH:mm:ss, the server's zone: taken as UTC)."""
    if not isinstance(text, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _int(value: Any) -> int | None:
    """A day count from the server: a number within reason, else None (a broken or hostile record)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return int(max(0, min(value, 36500)))


def from_user_info(vo: str, info: dict[str, Any], now: datetime, warn_days: int) -> list[Item]:
    """The items of one VOMSUserJSON record (one's own)."""
    items: list[Item] = []
    if info.get("suspended") is True:
        reason = str(info.get("suspensionReason") or info.get("suspensionReasonCode") or "no reason given")
        code = str(info.get("suspensionReasonCode") or "")
        todo = ("Sign the AUP again on the VO's VOMS-Admin page (the sign-aup link in its mail): that "
                "restores the membership." if code == "FAILED_TO_SIGN_AUP"
                else f"{VO_ADMINS} to restore it (`onboard explain` on voms-proxy-init's message says more).")
        items.append(Item(f"membership of {vo}", LAPSED, f"suspended: {reason}", todo, vo=vo))
    elif info.get("suspended") is False:
        items.append(Item(f"membership of {vo}", OK, "active", vo=vo))
    else:
        items.append(Item(f"membership of {vo}", UNKNOWN, "the record does not say whether it is suspended",
                          "", vo=vo))
    end = _date(info.get("endTime"))
    if end is not None:
        items.append(by_date(f"membership end ({vo})", end, now, warn_days, vo=vo,
                             lapsed_todo=f"{VO_ADMINS} to extend it; VOMS-Admin suspends an ended membership "
                             "after a grace period (7 days by default).",
                             lapsing_todo=f"{VO_ADMINS} to extend it before it ends."))
    task = info.get("pendingSignAUPTask")
    records = info.get("aupAcceptanceRecords")
    if isinstance(task, dict):
        due = _date(task.get("expirationDate"))
        when = f"by {due:%Y-%m-%d}" if due else "soon"
        state = LAPSED if due is not None and due <= now else LAPSING
        items.append(Item(f"AUP of {vo}", state, f"the VO asks you to sign its AUP again, {when}",
                          "Sign it on the VO's VOMS-Admin page (the link is in the \"Request to sign\" "
                          "mail); otherwise the membership is suspended then.", due, vo))
    elif isinstance(records, list) and records:
        valid = [r for r in records if isinstance(r, dict) and r.get("valid") is True]
        if not valid:
            items.append(Item(f"AUP of {vo}", LAPSED, "no valid AUP signature", "Sign the VO's AUP again.",
                              vo=vo))
        elif any(_int(r.get("daysBeforeExpiration")) is None for r in valid):
            items.append(Item(f"AUP of {vo}", UNKNOWN, "the record's AUP signature has no readable end", "",
                              vo=vo))
        else:
            days = max(_int(r.get("daysBeforeExpiration")) or 0 for r in valid)
            due = now + timedelta(days=days)
            items.append(by_date(f"AUP signature ({vo})", due, now, warn_days, vo=vo, noun="valid until",
                                 lapsed_todo="Sign the VO's AUP again.",
                                 lapsing_todo="The VO will ask you to sign its AUP again then (by mail)."))
    return items


def check(ctx, registrar, now: datetime, warn_days: int) -> list[Item]:
    """Ask the journey's registration service (registrar.member_record) with the client certificate."""
    vo = ctx.vo
    what = f"membership of {vo}"
    try:
        found = registrar.member_record(ctx)
    except MissingInput:
        return [Item(what, SKIPPED, "needs the passphrase of your key, and there is no terminal to ask on",
                     "Set credentials.passphrase_command (or passphrase_file) for cron, or run it in a "
                     "terminal; `onboard check --offline` does the local checks alone.", vo=vo)]
    except OnboardError as e:
        return [Item(what, UNKNOWN, f"could not ask {vo}'s registration service: {e.message}", e.hint, vo=vo)]
    if found.record is not None:
        items = from_user_info(vo, found.record, now, warn_days)
        if found.why:  # what the record cannot show (IAM: when the AUP signature lapses)
            items.append(Item(f"AUP of {vo}", INFO, found.why, found.todo, vo=vo))
        return items
    if found.refusal:  # the service refuses the member: its words, mapped to cause and whom to ask
        lapse = lapse_messages.find(found.refusal)
        if lapse is not None:
            return [Item(what, LAPSED, f"{lapse.title} ({found.refusal})",
                         f"{lapse.todo} Whom to ask: {lapse.whom}.", vo=vo)]
    return [Item(what, LAPSED if found.absent else UNKNOWN, found.why, found.todo, vo=vo)]
