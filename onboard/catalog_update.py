"""`onboard vos --update`: the catalog's vomses lines and LSC files refreshed from the OSG vo-client layout
(opensciencegrid/osg-vo-config: a `vomses` file plus `vomsdir/<vo>/<host>.lsc`), as a directory, a
tarball, or a tarball at an https:// address.

Every vomses line is checked as voms-proxy-init reads it (catalog.parse_vomses) and every LSC line as a
DN; one bad line refuses the whole update, naming the file and the line, and nothing is written. Only VOs
the catalog knows are updated (the source does not say how a VO registers its members). The result goes to
the user's data directory (vos.toml there), laid over the shipped catalog by onboard.catalog.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from onboard import catalog
from onboard.errors import Exit, OnboardError

DEFAULT_SOURCE = "https://github.com/opensciencegrid/osg-vo-config/archive/refs/heads/master.tar.gz"
MAX_FILE = 1 << 20  # a vomses file or an LSC: a few kilobytes in practice
_NEXT_CHAIN = re.compile(r"^-+\s*NEXT CHAIN\s*-+$")  # LSC files may list several chains; the first counts
_LSC_PATH = re.compile(r"^vomsdir/([^/]+)/([^/]+)\.lsc$")


class CatalogError(OnboardError):
    exit_code = Exit.CATALOG
    default_hint = "Nothing was changed. Fix or replace the source, then run `onboard vos --update` again."


@dataclass
class VOData:
    vomses: list[str] = field(default_factory=list)
    lsc: dict[str, list[str]] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)  # hosts left out as the vo-client package does


def retired_endpoint(vo: str, host: str) -> bool:
    """CERN's legacy IAM endpoints, which the vo-client package deletes from the vomses it installs
    (rpm/vo-client.spec, delete_iam_legacy_vomses) although the repository's vomses still lists them."""
    return host == f"voms-{vo}-auth.app.cern.ch"


# -- reading the source ---------------------------------------------------------------------------


def read_source(source: str) -> tuple[dict[str, bytes], str]:
    """The source's files by their path under the layout's root ("vomses", "vomsdir/<vo>/<host>.lsc"),
    and how to name the source."""
    if "://" in source:
        if not source.startswith("https://"):
            raise CatalogError(
                f"{source.split('://')[0]}:// is not accepted for catalog data ({source}).",
                "Give an https:// address (verified TLS), a directory or a tarball.",
            )
        return _tar_files(_download(source), source), source
    path = Path(source).expanduser()
    if path.is_dir():
        return _dir_files(path), str(path)
    if path.is_file():
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise CatalogError(f"cannot read {path}: {e.strerror}.") from None
        return _tar_files(raw, str(path)), str(path)
    raise CatalogError(f"{source} is neither a directory, a file nor an https:// address.",
                       "Give the vo-client directory (with vomses and vomsdir/), a tarball of it, or a URL.")


def _dir_files(root: Path) -> dict[str, bytes]:
    if not (root / "vomses").is_file():
        raise CatalogError(
            f"{root} has no vomses file.", "Give the directory that holds vomses and vomsdir/."
        )
    files = {"vomses": _read(root / "vomses")}
    vomsdir = root / "vomsdir"
    if vomsdir.is_dir():
        for vo_dir in sorted(vomsdir.iterdir()):
            if not vo_dir.is_dir() or vo_dir.is_symlink():
                continue
            for lsc in sorted(vo_dir.glob("*.lsc")):
                if lsc.is_file():  # a link to a file elsewhere in the tree is read as that file
                    files[f"vomsdir/{vo_dir.name}/{lsc.name}"] = _read(lsc)
    return files


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as e:
        raise CatalogError(f"cannot read {path}: {e.strerror}.") from None
    if len(data) > MAX_FILE:
        raise CatalogError(f"{path} is larger than a vomses or LSC file can be ({MAX_FILE >> 10} KiB).")
    return data


def _tar_files(raw: bytes, name: str) -> dict[str, bytes]:
    from onboard.pki import tarball

    try:
        members = tarball.members(raw, max_member=MAX_FILE)
    except tarball.TarballError as e:
        raise CatalogError(
            f"{name}: {e}.", "Give a tarball of the vo-client layout (vomses, vomsdir/)."
        ) from None
    files = {m.info.name.removeprefix("./"): m.data for m in members if m.data is not None}
    # the root: where the shallowest vomses file is (GitHub's archives add a top directory)
    roots = sorted((p[: -len("vomses")] for p in files if p == "vomses" or p.endswith("/vomses")), key=len)
    if not roots:
        raise CatalogError(f"{name} holds no vomses file.", "Give a tarball of the vo-client layout.")
    root = roots[0]
    return {p[len(root):]: data for p, data in files.items() if p.startswith(root)}


def _download(url: str) -> bytes:
    import requests

    from onboard.pki.tarball import MAX_COMPRESSED

    try:
        with requests.get(url, stream=True, timeout=60) as resp:  # verify=True: the system's CAs
            if resp.status_code != 200:
                raise CatalogError(f"{url} answered HTTP {resp.status_code}.", "Check the address.")
            data = b""
            for chunk in resp.iter_content(1 << 16):
                data += chunk
                if len(data) > MAX_COMPRESSED:
                    raise CatalogError(f"{url} sends more than {MAX_COMPRESSED >> 20} MiB.")
            return data
    except requests.exceptions.SSLError:
        raise CatalogError(
            f"{url}: the server's certificate does not verify.",
            "Nothing was downloaded. Check the address, or download the tarball another way.",
        ) from None
    except requests.exceptions.RequestException as e:
        raise CatalogError(f"{url} could not be downloaded ({type(e).__name__}).",
                           "Check the network, or give a directory or tarball instead.") from None


# -- checking it ----------------------------------------------------------------------------------


def parse(files: dict[str, bytes], origin: str) -> dict[str, VOData]:
    """Every VO of the source, each line checked; the first bad line refuses all of it."""
    out: dict[str, VOData] = {}
    text = _text(files["vomses"], f"{origin}/vomses")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            parsed = catalog.parse_vomses(line)
        except ValueError as e:
            raise CatalogError(f"{origin}/vomses line {n}: {e}.") from None
        vo = out.setdefault(parsed.vo, VOData())
        if retired_endpoint(parsed.vo, parsed.host):
            vo.retired.append(parsed.host)
            continue
        canonical = str(parsed)
        if canonical not in vo.vomses:
            vo.vomses.append(canonical)
        if parsed.host not in vo.lsc:
            lsc_path = f"vomsdir/{parsed.vo}/{parsed.host}.lsc"
            if lsc_path not in files:
                raise CatalogError(
                    f"{origin}/vomses line {n}: no {lsc_path} for its server.",
                    "Nothing was changed: voms-proxy-init needs the LSC of every server it may ask.",
                )
            vo.lsc[parsed.host] = _lsc(files[lsc_path], f"{origin}/{lsc_path}")
        if vo.lsc[parsed.host][0] != parsed.dn:
            raise CatalogError(f"{origin}/vomses line {n}: the server DN differs from the first line of "
                               f"vomsdir/{parsed.vo}/{parsed.host}.lsc.")
    for path in files:  # LSC files without a vomses line are checked too: they are part of the source
        m = _LSC_PATH.match(path)
        if m and m.group(2) not in out.get(m.group(1), VOData()).lsc:
            _lsc(files[path], f"{origin}/{path}")
    return out


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CatalogError(f"{name}: not text (byte {e.start}).") from None


def _lsc(data: bytes, name: str) -> list[str]:
    dns: list[str] = []
    for n, line in enumerate(_text(data, name).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if _NEXT_CHAIN.match(line):
            break
        try:
            catalog.check_lsc([line, line])  # one DN in OpenSSL slash form
        except ValueError as e:
            raise CatalogError(f"{name} line {n}: {e}.") from None
        dns.append(line)
    if len(dns) < 2:
        raise CatalogError(f"{name}: an LSC needs the server's DN, then its CA's DN.")
    return dns


# -- applying it ----------------------------------------------------------------------------------


@dataclass
class Change:
    vo: str
    what: str  # "updated" | "unchanged"
    details: list[str] = field(default_factory=list)


def apply(current: dict[str, catalog.VOEntry], source: dict[str, VOData], origin: str,
          today: str) -> tuple[dict[str, dict], list[Change]]:
    """The overlay tables for the catalog's VOs the source carries, and what changed for each."""
    tables: dict[str, dict] = {}
    changes: list[Change] = []
    for name in sorted(current):
        data = source.get(name)
        if data is None:
            continue
        entry = current[name]
        if not data.vomses:  # nothing current in the source: the catalog's own lines stay
            changes.append(Change(name, "unchanged", [f"the source lists only {', '.join(data.retired)}, "
                                                      "which vo-client leaves out (retired)"]))
            continue
        details = [f"- {line}" for line in entry.vomses if line not in data.vomses]
        details += [f"+ {line}" for line in data.vomses if line not in entry.vomses]
        details += [f"LSC {host}" for host, dns in data.lsc.items() if entry.lsc.get(host) != dns]
        tables[name] = {"vomses": data.vomses, "lsc": data.lsc, "data_from": origin, "checked": today}
        changes.append(Change(name, "updated" if details else "unchanged", details))
    return tables, changes


def render(tables: dict[str, dict]) -> str:
    from onboard.toml_text import toml_key, toml_value

    out = ["# Written by `onboard vos --update`: laid over the shipped catalog (onboard/data/vos.toml).\n"]
    for name, table in tables.items():
        out.append(f"\n[{toml_key(name)}]\n")
        for key in ("vomses", "data_from", "checked"):
            out.append(f"{key} = {toml_value(table[key])}\n")
        out.append(f"[{toml_key(name)}.lsc]\n")
        for host, dns in table["lsc"].items():
            out.append(f"{toml_key(host)} = {toml_value(dns)}\n")
    return "".join(out)


def update(source: str, now: datetime.datetime | None = None) -> tuple[Path, list[Change]]:
    """Read, check, and only then write the overlay (atomically); a refusal leaves every file as it was."""
    from onboard import paths
    from onboard.atomicfile import write_atomic

    files, origin = read_source(source)
    parsed = parse(files, origin)
    today = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d")
    current = catalog.shipped()
    tables, changes = apply(current, parsed, f"{origin} (vo-client layout)", today)
    if not tables:
        raise CatalogError(f"{origin} carries none of the catalog's VOs ({', '.join(sorted(current))}).",
                           "Nothing was changed; check that this is a vo-client vomses file.")
    target = catalog.overlay_file()
    old = catalog.overlay_tables(target)
    merged = {**old, **tables}
    paths.ensure_private_dir(target.parent)
    write_atomic(target, render(merged).encode("utf-8"), mode=0o600)
    catalog.forget()
    return target, changes
