"""Secrets: passphrases and passwords, from a command, a file, stdin or a no-echo prompt.

They live in memory only, never in argv (ours or a child's), the state, the history, a log or a message.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from onboard.errors import ConfigError, UsageError
from onboard.memory_guard import no_core_dumps
from onboard.ui import UI

MIN_NEW_PASSPHRASE = 12  # the GÉANT TCS guide's rule


def from_command(command: str, key: str) -> str:
    """Run a `*_command` (no shell) and take the first line it prints."""
    no_core_dumps()
    try:
        proc = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"config key {key}: the command could not be run ({type(e).__name__}).",
                          "Check the command exists and prints the secret on its first line.") from None
    if proc.returncode != 0 or not proc.stdout:
        raise ConfigError(
            f"config key {key}: the command failed (exit {proc.returncode}) or printed nothing.",
            "Run it by hand to see why; it must print the secret on its first line.",
        )
    return proc.stdout.splitlines()[0]


def from_file(path: Path, what: str) -> str:
    no_core_dumps()
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(
            f"{what} file {path} cannot be read ({e.strerror if isinstance(e, OSError) else 'not UTF-8'}).",
            "Give a readable file whose first line is the secret.",
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise UsageError(f"{what} file {path} is empty.", "Put the secret on its first line.")
    return lines[0]


def from_stdin(what: str) -> str:
    no_core_dumps()
    line = sys.stdin.readline()
    if not line.strip("\r\n"):
        raise UsageError(f"no {what} on standard input.", "Pipe the secret in, on one line.")
    return line.rstrip("\r\n")


class Secrets:
    """Finds each secret once per run, from the first source that has it, and remembers it in memory."""

    def __init__(self, ui: UI, *, passphrase_file: Path | None = None, passphrase_stdin: bool = False,
                 passphrase_command: str = "", config_passphrase_file: Path | None = None):
        self.ui = ui
        self._cache: dict[str, str] = {}
        self._pf, self._stdin = passphrase_file, passphrase_stdin
        self._cmd, self._cfg_file = passphrase_command, config_passphrase_file

    def passphrase(self, prompt: str = "Passphrase of your certificate's key") -> str:
        if "passphrase" not in self._cache:
            if self._pf:
                value = from_file(self._pf, "passphrase")
            elif self._stdin:
                value = from_stdin("passphrase")
            elif self._cmd:
                value = from_command(self._cmd, "credentials.passphrase_command")
            elif self._cfg_file:
                value = from_file(self._cfg_file, "passphrase")
            else:
                value = self.ui.ask(prompt, secret=True, flag="--passphrase-file",
                                    key="credentials.passphrase_command")
            self._cache["passphrase"] = value
        return self._cache["passphrase"]

    def new_passphrase(self, prompt: str = "New passphrase for the key (12 characters or more)") -> str:
        value = self.ui.ask(prompt, secret=True, flag="--passphrase-file")
        if len(value) < MIN_NEW_PASSPHRASE:
            raise UsageError(
                f"the new passphrase has {len(value)} characters; at least {MIN_NEW_PASSPHRASE} are needed.",
                "Choose a longer passphrase (a few words make a good one).",
            )
        if self.ui.ask("Type it again", secret=True) != value:
            raise UsageError("the two passphrases differ.", "Type the same passphrase twice.")
        return value

    def remember(self, name: str, value: str) -> None:
        self._cache[name] = value

    def get(self, name: str, *, command: str = "", file: Path | None = None, prompt: str, key: str) -> str:
        """A named secret (e.g. the IMAP password): command, then file, then prompt."""
        if name not in self._cache:
            if command:
                self._cache[name] = from_command(command, key)
            elif file:
                self._cache[name] = from_file(file, name)
            else:
                self._cache[name] = self.ui.ask(prompt, secret=True, key=key)
        return self._cache[name]


def key_passphrase(secrets: Secrets, ui: UI, new: bool) -> str:
    """The passphrase for the written key and package: the input's (as tcsg4 does) or a new one."""
    if new:
        return secrets.new_passphrase()
    pw = secrets.passphrase()
    if pw:
        return pw
    if not ui.interactive:  # a PKCS#12 without passphrase: the key must not be written unprotected
        raise UsageError(
            "the PKCS#12 has no passphrase, and the key onboard writes must have one.",
            "Run `onboard convert --new-passphrase` in a terminal to choose one.",
        )
    ui.say("The PKCS#12 has no passphrase; choose one for your key.")
    return secrets.new_passphrase()
