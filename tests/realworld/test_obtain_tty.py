"""On a terminal the portal's steps come one at a time (Enter for the next), while the download directory
is watched all along: the file is taken the moment it is complete, without pressing anything."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lib.pki import portal_p12

pty = pytest.importorskip("pty")


class Terminal:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "onboard", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env={**os.environ, **env}, cwd=cwd)
        os.close(slave)
        self.out = ""

    def expect(self, text: str, timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while text not in self.out:
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} did not appear; got:\n{self.out}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.out += os.read(self.master, 4096).decode(errors="replace").replace("\r\n", "\n")
                except OSError:
                    break

    def send(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def test_steps_one_at_a_time_and_the_download_is_noticed_meanwhile(onboard_env, tmp_path):
    dl = tmp_path / "Downloads"
    dl.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[ca]\nprovider = "harica"\ndownload_dir = "{dl}"\nopen_browser = false\n'
                   '[vos.testvo]\nurl = "https://127.0.0.1:1/voms/testvo"\n')
    term = Terminal(["--config", str(cfg), "start", "--vo", "testvo"], onboard_env, tmp_path)
    try:
        term.expect("Step 1/6")
        assert "Step 2/6" not in term.out  # one at a time
        term.send("")
        term.expect("Step 2/6")
        assert "Step 3/6" not in term.out
        (dl / "Certificate.p12.part").write_bytes(portal_p12())
        os.replace(dl / "Certificate.p12.part", dl / "Certificate.p12")
        term.expect("Got Certificate.p12")  # no Enter pressed: the watcher saw it
        assert "Step 3/6" not in term.out
        term.expect("Turn the PKCS#12")  # and the journey went on to the next step
    finally:
        term.close()
    assert not (dl / "Certificate.p12").exists()
    assert list((Path(onboard_env["ONBOARD_DATA_DIR"]) / "obtained").glob("*Certificate.p12"))
