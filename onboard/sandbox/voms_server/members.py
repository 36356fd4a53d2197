"""Membership in a voms-server's database: what the sandbox's on-approval hook does on approval."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from onboard.sandbox.voms_server.mariadb import mariadb_client, sql_quote


def database_name(vo: str) -> str:
    return f"voms_{vo.replace('.', '_').replace('-', '_')}"


def add_member(
    dn: str,
    ca_dn: str,
    *,
    socket_path: str | Path | None,
    database: str,
    vo: str | None = None,
    email: str = "",
    **client: object,
) -> None:
    """Make `dn` (issued by `ca_dn`, both in OpenSSL slash form) a member of the VO's root group.
    Idempotent: a second call for the same certificate changes nothing. `client`: user, password, host,
    port for mariadb_client (TCP instead of the socket)."""
    vo_group = f"/{vo}" if vo else None
    group_sql = (
        f"(SELECT gid FROM `groups` WHERE dn = {sql_quote(vo_group)})"
        if vo_group
        else "(SELECT MIN(gid) FROM `groups`)"
    )
    # usr.dn is no unique key: a named lock keeps two hooks at once (two approvals) from both inserting
    sql = f"""
DO GET_LOCK('onboard_add_member', 60);
INSERT IGNORE INTO ca (ca, cadescr) VALUES ({sql_quote(ca_dn)}, {sql_quote(ca_dn)});
SET @cid = (SELECT cid FROM ca WHERE ca = {sql_quote(ca_dn)});
INSERT INTO usr (dn, ca, cn, mail)
  SELECT {sql_quote(dn)}, @cid, {sql_quote(dn.rsplit("CN=", 1)[-1])}, {sql_quote(email)} FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM usr WHERE dn = {sql_quote(dn)} AND ca = @cid);
SET @uid = (SELECT MIN(userid) FROM usr WHERE dn = {sql_quote(dn)} AND ca = @cid);
SET @gid = {group_sql};
INSERT INTO m (userid, gid, rid, cid)
  SELECT @uid, @gid, NULL, NULL FROM DUAL
  WHERE @uid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM m WHERE userid = @uid AND gid = @gid AND rid IS NULL);
SELECT COUNT(*) FROM m WHERE userid = @uid AND gid = @gid;
DO RELEASE_LOCK('onboard_add_member');
"""
    out = mariadb_client(socket_path, database, sql, **client)  # type: ignore[arg-type]
    if out.strip().splitlines()[-1:] != ["1"]:
        raise RuntimeError(
            f"{dn} is not a member of {vo_group or 'the first group'} afterwards (is it issued by {ca_dn}, "
            "or already registered under another CA?)"
        )


def hook_command(socket_path: str | Path, database: str, vo: str, *, wait_for: Path | None = None) -> str:
    """An on-approval command line (settings.on_approval): `onboard sandbox voms-add-member` run with this
    interpreter, so it works from a wheel as from a checkout and needs no `onboard` on PATH. No secret in
    it."""
    argv = [sys.executable, "-m", "onboard", "sandbox", "voms-add-member", "--socket", str(socket_path),
            "--database", database, "--vo", vo]
    if wait_for is not None:
        argv += ["--wait-for", str(wait_for)]
    return shlex.join(argv)


def add_certificate(
    dn: str,
    ca_dn: str,
    member_dn: str,
    member_ca_dn: str,
    *,
    socket_path: str | Path | None,
    database: str,
    email: str = "",
    **client: object,
) -> None:
    """An approved certificate request: the voms daemon answers for `dn` (issued by `ca_dn`) with the
    groups and roles the member's certificate `member_dn` has. The database here is voms-mysql-plugin's
    version 2 (Debian's voms-mysql.data), where a usr row is one certificate: the added certificate gets its
    own row holding the member's memberships (VOMS-Admin 3's version 3 has a `certificate` table instead;
    the member count that matters, VOMS-Admin's, stays one). Idempotent."""
    sql = f"""
DO GET_LOCK('onboard_add_member', 60);
SET @old = (SELECT MIN(u.userid) FROM usr u JOIN ca c ON c.cid = u.ca
            WHERE u.dn = {sql_quote(member_dn)} AND c.ca = {sql_quote(member_ca_dn)});
INSERT IGNORE INTO ca (ca, cadescr) VALUES ({sql_quote(ca_dn)}, {sql_quote(ca_dn)});
SET @cid = (SELECT cid FROM ca WHERE ca = {sql_quote(ca_dn)});
INSERT INTO usr (dn, ca, cn, mail)
  SELECT {sql_quote(dn)}, @cid, {sql_quote(dn.rsplit("CN=", 1)[-1])}, {sql_quote(email)} FROM DUAL
  WHERE @old IS NOT NULL AND NOT EXISTS (SELECT 1 FROM usr WHERE dn = {sql_quote(dn)} AND ca = @cid);
SET @uid = (SELECT MIN(userid) FROM usr WHERE dn = {sql_quote(dn)} AND ca = @cid);
INSERT INTO m (userid, gid, rid, cid)
  SELECT @uid, o.gid, o.rid, o.cid FROM m o
  WHERE o.userid = @old AND NOT EXISTS (
    SELECT 1 FROM m n WHERE n.userid = @uid AND n.gid = o.gid AND n.rid <=> o.rid);
SELECT COUNT(*) FROM m WHERE userid = @uid AND @old IS NOT NULL;
DO RELEASE_LOCK('onboard_add_member');
"""
    out = mariadb_client(socket_path, database, sql, **client)  # type: ignore[arg-type]
    last = (out.strip().splitlines() or ["0"])[-1]
    if not last.isdigit() or int(last) == 0:
        raise RuntimeError(f"{member_dn} ({member_ca_dn}) is no member here, so {dn} cannot be added to it")
