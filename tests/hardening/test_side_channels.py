"""Secrets in side channels (hardening, round 2): core dumps.

Reproduced on the old code: a core dump taken while onboard held the passphrase contained it. (The IMAP
password whose non-ASCII letter was quoted by an exception: tests/registration/test_mail.py.)
"""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

SECRET = "Kx7-core-dump-secret-q9Zt"


def _allow_cores() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _abort_holding(tmp_path, how: str) -> list:
    """Run a Python that takes the secret the way onboard does (`how`), then aborts; the core files left."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    code = textwrap.dedent(f"""
        import os, sys
        secret_file = {str(secret_file)!r}
        {how}
        held = [value] * 3
        os.abort()
    """)
    work = tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, preexec_fn=_allow_cores,
                          input=SECRET + "\n", text=True, capture_output=True, timeout=60)
    assert proc.returncode == -6, proc.stderr  # it did abort while holding the secret
    return [p for p in work.iterdir() if p.name.startswith("core")]


def test_the_machine_writes_core_dumps(tmp_path):
    """The control: without onboard's guard a process holding the secret leaves a core that shows it, so
    the absence of a core below is onboard's doing."""
    cores = _abort_holding(tmp_path, "value = open(secret_file).read().strip()")
    if not cores:
        pytest.skip("this machine writes no core files in the working directory (kernel.core_pattern)")
    assert any(SECRET.encode() in p.read_bytes() for p in cores)


@pytest.mark.parametrize("how", [
    "from onboard.secrets import from_file; value = from_file(secret_file, 'passphrase')",
    "from onboard.secrets import from_stdin; value = from_stdin('passphrase')",
    "from onboard.secrets import from_command; value = from_command('cat ' + secret_file, 'k')",
])
def test_no_core_dump_once_a_secret_is_read(tmp_path, how):
    cores = _abort_holding(tmp_path, how)
    leaked = [p.name for p in cores if SECRET.encode() in p.read_bytes()]
    assert not cores, f"core files written: {[p.name for p in cores]} (secret inside: {leaked})"
