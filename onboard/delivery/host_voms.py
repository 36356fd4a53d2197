"""The submit host's own VOMS configuration, read as voms-proxy-init reads it there (italiangrid/voms,
vomsclient.cc and voms_api.cc): vomses lines from $VOMS_USERCONF when the site sets it (software bundles
such as OSG's on CVMFS do) and always from /etc/vomses (a file or a directory of files), LSC files from
$X509_VOMS_DIR/<vo>/<host>.lsc, else /etc/grid-security/vomsdir. Sites keep these current with the
vo-client package; verification tries them first and installs the user's own only where they lack the VO
or turn out stale. Everything here is public data, read over SFTP.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onboard.catalog import parse_vomses

if TYPE_CHECKING:
    import paramiko

SYSTEM_VOMSES = "/etc/vomses"
SYSTEM_VOMSDIR = "/etc/grid-security/vomsdir"
MAX_FILE = 1 << 20
MAX_FILES = 500  # a vomses directory (vo-client: a few hundred VOs at most)


@dataclass
class HostTrust:
    vomsdir: str
    vomses: list[tuple[str, str]] = field(default_factory=list)  # (file, line) naming the VO
    lsc: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # host -> (file, DNs)

    @property
    def hosts(self) -> list[str]:
        return list(dict.fromkeys(parse_vomses(line).host for _, line in self.vomses))

    @property
    def covers(self) -> bool:
        """The host has the VO: a vomses line, and an LSC for each of its servers."""
        return bool(self.vomses) and all(h in self.lsc for h in self.hosts)


def vomses_sources(probe: dict[str, str]) -> list[str]:
    userconf = probe.get("voms_userconf", "")
    return [p for p in (userconf, SYSTEM_VOMSES) if p]


def read(sftp: paramiko.SFTPClient, vo: str, probe: dict[str, str]) -> HostTrust:
    host = HostTrust(vomsdir=probe.get("voms_dir") or SYSTEM_VOMSDIR)
    for source in vomses_sources(probe):
        for path in _files(sftp, source):
            for line in _text(sftp, path).splitlines():
                try:
                    parsed = parse_vomses(line)
                except ValueError:
                    continue  # voms-proxy-init skips what it cannot read too
                if parsed.vo == vo and all(line.strip() != seen for _, seen in host.vomses):
                    host.vomses.append((path, line.strip()))
    for name in host.hosts:
        path = f"{host.vomsdir}/{vo}/{name}.lsc"
        dns = [ln.strip() for ln in _text(sftp, path).splitlines() if ln.strip()]
        if dns:
            host.lsc[name] = (path, dns)
    return host


def _files(sftp: paramiko.SFTPClient, path: str) -> list[str]:
    try:
        st = sftp.stat(path)
    except OSError:
        return []
    if stat.S_ISDIR(st.st_mode or 0):
        try:
            names = sorted(sftp.listdir(path))[:MAX_FILES]
        except OSError:
            return []
        return [f"{path}/{n}" for n in names if not n.startswith(".")]
    return [path]


def _text(sftp: paramiko.SFTPClient, path: str) -> str:
    try:
        with sftp.open(path, "rb") as f:
            return f.read(MAX_FILE).decode("utf-8", "replace")
    except OSError:
        return ""


def disagreements(catalog: Any, host: HostTrust) -> list[str]:
    """Where onboard's checked values (a verify.VOTrust, or None) and the host's files differ, one
    sentence each."""
    if catalog is None:
        return []
    ours = {}
    for line in catalog.vomses:
        try:
            parsed = parse_vomses(line)
        except ValueError:
            continue
        ours[parsed.host] = parsed
    theirs = {}
    for path, line in host.vomses:
        parsed = parse_vomses(line)
        theirs.setdefault(parsed.host, (path, parsed))
    out = []
    for name, mine in ours.items():
        if name not in theirs:
            out.append(f"the host's vomses lacks {name}, which onboard's catalog lists")
            continue
        path, other = theirs[name]
        if (other.port, other.dn) != (mine.port, mine.dn):
            out.append(f"{path}: {name} port {other.port}, DN {other.dn}; onboard's catalog: port "
                       f"{mine.port}, DN {mine.dn}")
    for name, (path, _) in theirs.items():
        if name not in ours:
            out.append(f"{path} lists {name}, which onboard's catalog does not")
    for name, (path, dns) in host.lsc.items():
        mine_dns = catalog.lsc.get(name)
        if mine_dns and dns != mine_dns:
            out.append(f"{path}: {' / '.join(dns)}; onboard's catalog: {' / '.join(mine_dns)}")
    return out


def stale_files(host: HostTrust, diffs: list[str]) -> list[str]:
    """The host's files a disagreement names (what the host's administrators should refresh)."""
    named = [p for p, _ in host.vomses] + [p for p, _ in host.lsc.values()]
    found = [p for p in dict.fromkeys(named) if any(p in d for d in diffs)]
    return found or list(dict.fromkeys(named))
