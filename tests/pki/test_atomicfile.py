"""onboard.atomicfile: the one "temporary file, then rename" writer."""

from __future__ import annotations

import os

import pytest

from onboard import atomicfile


def test_mode_is_exact_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        atomicfile.write_atomic(tmp_path / "public.pem", b"x", 0o644)
        atomicfile.write_new(tmp_path / "new.pem", b"y", 0o644)
    finally:
        os.umask(old)
    old = os.umask(0)
    try:
        atomicfile.write_atomic(tmp_path / "secret.key", b"z")
    finally:
        os.umask(old)
    assert oct((tmp_path / "public.pem").stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "new.pem").stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "secret.key").stat().st_mode & 0o777) == "0o600"


def test_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "record.json"
    atomicfile.write_atomic(target, b"old")
    atomicfile.write_atomic(target, b"new" * 100_000)
    assert target.read_bytes() == b"new" * 100_000
    assert os.listdir(tmp_path) == ["record.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    atomicfile.write_atomic(target, b"old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomicfile.os, "fsync", full_disk)
    with pytest.raises(OSError):
        atomicfile.write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["record.json"]


def test_stale_temporary_files_of_dead_writers_go(tmp_path):
    target = tmp_path / "record.json"
    dead = subprocess_pid_that_is_gone()
    (tmp_path / f".record.json.{dead}.tmp").write_bytes(b"torn")
    (tmp_path / ".record.json.1.tmp").write_bytes(b"pid 1 is alive: not ours to judge")
    atomicfile.write_atomic(target, b"x")
    assert sorted(os.listdir(tmp_path)) == [".record.json.1.tmp", "record.json"]


def test_write_new_never_replaces_nor_follows_a_link(tmp_path):
    (tmp_path / "there").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        atomicfile.write_new(tmp_path / "there", b"x")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        atomicfile.write_new(tmp_path / "link", b"x")
    assert not (tmp_path / "elsewhere").exists() and (tmp_path / "there").read_bytes() == b"keep"


def subprocess_pid_that_is_gone() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid
