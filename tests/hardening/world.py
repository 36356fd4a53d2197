"""What a hostile-input case runs in: a user's directories (HOME with ~/.globus, state, data, config) and
optionally a submit host's home; snapshots of all of them, compared byte for byte and mode for mode."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# journey fields that a failing or waiting run may update (they say what happened: last_error, attempts, the
# wait's next check, links refused); everything else in the record must be as it was
VOLATILE = {"updated", "last_error", "attempts", "waits"}
VOLATILE_EXTRA = {"refused_links", "mail_seen", "mail_cursor"}
VOLATILE_ARTIFACTS = {
    "registration_url",
    "remote",
}  # which server the journey talks to: noted before the first request


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below `root`: relative path -> (kind, mode, sha256 or link target). Binary-safe."""
    out: dict[str, tuple] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode)
            else:
                out[rel] = ("file", mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@dataclass
class World:
    tmp: Path
    env: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)
    remote: Path | None = None  # the submit host's home, when the case has one
    watch: list[Path] = field(default_factory=list)  # more directories that must not change
    journey: bool = False  # a journey exists before the run: its position must not change

    @property
    def home(self) -> Path:
        return Path(self.env["HOME"])

    @property
    def globus(self) -> Path:
        return self.home / ".globus"

    @property
    def state_dir(self) -> Path:
        return Path(self.env["ONBOARD_STATE_DIR"])

    @property
    def data_dir(self) -> Path:
        return Path(self.env["ONBOARD_DATA_DIR"])

    def dirs(self) -> dict[str, Path]:
        d = {"home": self.home, "data": self.data_dir, **{f"watch{i}": p for i, p in enumerate(self.watch)}}
        if self.remote is not None:
            d["remote"] = self.remote
        return d

    def take(self) -> dict[str, Any]:
        snap: dict[str, Any] = {k: snapshot(p) for k, p in self.dirs().items()}
        snap["state"] = {k: v for k, v in snapshot(self.state_dir).items() if not k.endswith(".lock")}
        snap["journeys"] = {p.name: self._position(p) for p in sorted(self.state_dir.glob("*.json"))}
        snap["history"] = {p.name: p.read_bytes() for p in sorted(self.state_dir.glob("*.history.jsonl"))}
        return snap

    @staticmethod
    def _position(p: Path) -> dict[str, Any]:
        try:
            data = json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError):
            return {"unreadable": hashlib.sha256(p.read_bytes()).hexdigest()}
        if not isinstance(data, dict):
            return {"not an object": data}
        data = {k: v for k, v in data.items() if k not in VOLATILE}
        for k in VOLATILE_ARTIFACTS:
            data.get("artifacts", {}).pop(k, None)
        extra = data.get("artifacts", {}).get("extra", {})
        for k in VOLATILE_EXTRA:
            extra.pop(k, None)
        return data

    def assert_unchanged(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        for key in [*self.dirs(), "journeys"]:
            assert after[key] == before[key], f"{key} changed: {_diff(before[key], after[key])}"
        if not self.journey:
            assert after["state"] == before["state"], (
                f"state changed: {_diff(before['state'], after['state'])}"
            )
            return
        # a journey's files: the same names and modes; the record's position as it was; history only appended
        new = {k for k in set(after["state"]) - set(before["state"]) if not k.endswith(".history.jsonl")}
        assert not new and set(before["state"]) <= set(after["state"]), _diff(before["state"], after["state"])
        for name, entry in after["state"].items():
            if name not in before["state"]:
                assert entry[:2] == ("file", 0o600), (name, entry)  # a first history file, private
                continue
            assert entry[:2] == before["state"][name][:2], (name, entry, before["state"][name])
        for name, old in before["history"].items():
            assert after["history"][name].startswith(old), f"history {name} rewritten"


def _diff(a: dict, b: dict) -> str:
    keys = sorted(set(a) | set(b))
    return "; ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys if a.get(k) != b.get(k))[:2000]


def write_secret(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path
