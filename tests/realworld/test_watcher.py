"""The download watcher: a new .p12 is picked up while we wait; partial downloads are not."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from onboard.obtain.watcher import DownloadWatcher, der_complete, take_private
from tests.lib.pki import portal_p12

BLOB = portal_p12()


def _later(delay: float, fn) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(delay), fn()))
    t.start()
    return t


def test_picks_up_a_file_that_appears_while_waiting(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0.1)
    assert w.poll() is None
    t = _later(0.4, lambda: (tmp_path / "Certificate.p12").write_bytes(BLOB))
    start = time.monotonic()
    found = w.wait(timeout=10, interval=0.1)
    t.join()
    assert found == tmp_path / "Certificate.p12"
    assert time.monotonic() - start < 5  # noticed promptly, not at the timeout


def test_any_name_and_pfx(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0)
    (tmp_path / "my cert (1).PFX").write_bytes(BLOB)
    assert w.poll() == tmp_path / "my cert (1).PFX"


def test_firefox_part_and_placeholder_are_ignored_until_renamed(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0)
    # Firefox: an empty placeholder with the final name, the data in name.part
    (tmp_path / "certs.p12").write_bytes(b"")
    (tmp_path / "certs.p12.part").write_bytes(BLOB)
    assert w.poll() is None
    os.replace(tmp_path / "certs.p12.part", tmp_path / "certs.p12")
    assert w.poll() == tmp_path / "certs.p12"


def test_a_full_file_with_a_part_sibling_still_waits(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0)
    (tmp_path / "Certificate.p12").write_bytes(BLOB)
    (tmp_path / "Certificate.p12.part").write_bytes(b"x")
    assert w.poll() is None
    (tmp_path / "Certificate.p12.part").unlink()
    assert w.poll() == tmp_path / "Certificate.p12"


def test_chrome_crdownload_is_ignored(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0)
    (tmp_path / "Unconfirmed 123456.crdownload").write_bytes(BLOB)
    (tmp_path / "Certificate.p12.crdownload").write_bytes(BLOB)
    assert w.poll() is None
    os.replace(tmp_path / "Certificate.p12.crdownload", tmp_path / "Certificate.p12")
    assert w.poll() == tmp_path / "Certificate.p12"


def test_truncated_download_is_not_taken(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0)
    (tmp_path / "Certificate.p12").write_bytes(BLOB[: len(BLOB) // 2])
    assert w.poll() is None
    (tmp_path / "Certificate.p12").write_bytes(BLOB)
    assert w.poll() == tmp_path / "Certificate.p12"


def test_a_file_still_growing_is_not_taken(tmp_path):
    """Indefinite-length (BER) data cannot be judged by its header: only by not changing."""
    path = tmp_path / "Certificate.p12"
    w = DownloadWatcher(tmp_path, settle=0.5)
    with open(path, "wb") as f:
        f.write(b"\x30\x80" + b"\x00" * 100)
        f.flush()
        stop = threading.Event()

        def grow():
            while not stop.is_set():
                f.write(b"\x01" * 64)
                f.flush()
                time.sleep(0.05)

        t = threading.Thread(target=grow)
        t.start()
        try:
            assert w.poll() is None
        finally:
            stop.set()
            t.join()
    assert w.poll() == path  # once it stops growing


def test_files_there_before_are_ignored_unless_they_change(tmp_path):
    old = tmp_path / "Certificate.p12"
    old.write_bytes(BLOB)
    w = DownloadWatcher(tmp_path, settle=0)
    assert w.poll() is None
    assert w.preexisting() == [old]
    # the baseline survives a restart (it is kept in the journey record)
    w2 = DownloadWatcher(tmp_path, dict(w.baseline), settle=0)
    assert w2.poll() is None
    time.sleep(0.01)
    old.write_bytes(portal_p12())  # downloaded again: same name, new file
    assert w2.poll() == old


def test_other_files_are_not_watched(tmp_path):
    w = DownloadWatcher(tmp_path, settle=0)
    (tmp_path / "paper.pdf").write_bytes(b"%PDF")
    (tmp_path / "page.html").write_bytes(b"<html>")
    assert w.poll() is None


def test_der_complete():
    assert der_complete(BLOB[:64], len(BLOB)) is True
    assert der_complete(BLOB[:64], len(BLOB) - 1) is False
    assert der_complete(b"<html>", 100) is False
    assert der_complete(b"\x30\x80", 10) is None


def test_take_private_moves_into_a_0600_file(tmp_path):
    src = tmp_path / "dl" / "Certificate.p12"
    src.parent.mkdir()
    src.write_bytes(BLOB)
    os.chmod(src, 0o644)
    dest = take_private(src, tmp_path / "data" / "obtained")
    assert not src.exists()
    assert dest.read_bytes() == BLOB
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    # a second file of the same name in the same second gets its own name, nothing is overwritten
    src.write_bytes(b"\x30\x03\x02\x01\x00")
    dest2 = take_private(src, tmp_path / "data" / "obtained")
    assert dest2 != dest and dest.read_bytes() == BLOB


def test_take_private_copy_keeps_the_original(tmp_path):
    src = tmp_path / "usercred.p12"
    src.write_bytes(BLOB)
    dest = take_private(src, tmp_path / "out", move=False)
    assert src.exists() and dest.read_bytes() == BLOB


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="needs O_NOFOLLOW")
def test_take_private_refuses_a_symlink(tmp_path):
    target = tmp_path / "elsewhere.p12"
    target.write_bytes(BLOB)
    link = tmp_path / "Certificate.p12"
    link.symlink_to(target)
    with pytest.raises(OSError):
        take_private(link, tmp_path / "out")
    assert target.exists()
    assert not list((tmp_path / "out").iterdir())


def test_watching_a_missing_directory_is_not_an_error(tmp_path):
    w = DownloadWatcher(tmp_path / "nope", settle=0)
    assert w.poll() is None
    Path(tmp_path / "nope").mkdir()
    (tmp_path / "nope" / "x.p12").write_bytes(BLOB)
    assert w.poll() == tmp_path / "nope" / "x.p12"
