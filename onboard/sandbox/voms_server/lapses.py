"""Suspension and membership end in the voms-server's database, as VOMS-Admin keeps them.

Debian's schema (voms-mysql.data, `version` 2) has no notion of either: voms-mysql-plugin finds a member
by `usr.dn` and `usr.ca`, whatever happened since. With `version` 3 the plugin reads VOMS-Admin's schema
instead: the holder by `certificate.subject_string`, `certificate.ca_id` and `ca.subject_string`, and
only `AND NOT suspended`; a suspended certificate is answered with its `suspended_reason`
(italiangrid/voms-mysql-plugin, src/mysqlwrap.cc, getUIDASCII_v2), which voms-server sends back as
"User is currently suspended! Suspension reason: ..." (italiangrid/voms, src/server/vomsd.cc).

VOMS-Admin marks a person in `usr` (`end_time`, `suspended`, `suspension_reason_code`,
`suspension_reason`) and, on suspension, each of their certificates (`certificate.suspended`,
`suspended_reason`: VOMSUser.suspend). The voms daemon itself never reads `end_time`: an expired
membership stops working only once VOMS-Admin's membership check has suspended it (after the grace
period), and that is what the sandbox does too (onboard/sandbox/voms_admin/lapses.py).

Here the sandbox's rows stay one `usr` row per certificate (what add_member writes), the VOMS-Admin
columns are added to `usr`, and `certificate` is a view over them: the plugin's queries find exactly the
columns they name, and rows written the version-2 way keep working.
"""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from onboard.sandbox.voms_server.mariadb import mariadb_client, sql_quote

ADMIN_SCHEMA = """
ALTER TABLE usr
  ADD COLUMN IF NOT EXISTS end_time DATETIME NULL,
  ADD COLUMN IF NOT EXISTS suspended TINYINT(1) NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS suspension_reason_code VARCHAR(255) NULL,
  ADD COLUMN IF NOT EXISTS suspension_reason VARCHAR(255) NULL;
ALTER TABLE ca ADD COLUMN IF NOT EXISTS subject_string VARCHAR(255) AS (ca) VIRTUAL;
CREATE OR REPLACE VIEW certificate AS
  SELECT userid AS usr_id, dn AS subject_string, ca AS ca_id, suspended,
         suspension_reason AS suspended_reason, suspension_reason_code
  FROM usr;
DELETE FROM version;
INSERT INTO version VALUES (3);
"""


def set_status(
    dn: str,
    ca_dn: str,
    *,
    suspended: bool,
    reason: str = "",
    reason_code: str = "",
    end_time: float | None = None,
    socket_path: str | Path | None,
    database: str,
    **client: object,
) -> None:
    """Mark the certificate (`dn` issued by `ca_dn`, slash form) suspended with `reason`, or active again;
    `end_time` (epoch seconds) is kept for the record. Raises when no such certificate is there."""
    end = (
        sql_quote(datetime.fromtimestamp(end_time, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"))
        if end_time is not None
        else "NULL"
    )
    sql = f"""
UPDATE usr u JOIN ca c ON u.ca = c.cid
   SET u.suspended = {1 if suspended else 0},
       u.suspension_reason = {sql_quote(reason) if suspended else 'NULL'},
       u.suspension_reason_code = {sql_quote(reason_code) if suspended and reason_code else 'NULL'},
       u.end_time = {end}
 WHERE u.dn = {sql_quote(dn)} AND c.ca = {sql_quote(ca_dn)};
SELECT COUNT(*) FROM usr u JOIN ca c ON u.ca = c.cid
 WHERE u.dn = {sql_quote(dn)} AND c.ca = {sql_quote(ca_dn)};
"""
    out = mariadb_client(socket_path, database, sql, **client)  # type: ignore[arg-type]
    if out.strip().splitlines()[-1:] in ([], ["0"]):
        raise RuntimeError(f"{dn} (issued by {ca_dn}) is not in {database}")


def status_hook_command(socket_path: str | Path, database: str, vo: str) -> str:
    """The sandbox's status-change command (settings.on_status_change): `onboard sandbox voms-set-status`
    with this interpreter; the certificate and its new state come in the hook's environment."""
    argv = [sys.executable, "-m", "onboard", "sandbox", "voms-set-status", "--socket", str(socket_path),
            "--database", database, "--vo", vo]
    return shlex.join(argv)
