"""What onboard prints and asks. Plain text on stderr/stdout, colour only on a terminal without NO_COLOR.

Nothing here prompts when stdin is not a terminal: `ask` raises MissingInput naming the flag or key.
"""

from __future__ import annotations

import os
import sys

from onboard.errors import MissingInput, UsageError

TYPE_CHECKING = False  # keep typing out of start-up
if TYPE_CHECKING:
    from datetime import datetime
    from typing import TextIO


def fmt_time(when: datetime | str | None) -> str:
    """A record's UTC time as local time, to the second."""
    if when is None:
        return "-"
    if isinstance(when, str):
        try:  # the C type itself: datetime.py before Python 3.12 first builds its pure-Python twin (~1.5 ms)
            from _datetime import datetime
        except ImportError:  # pragma: no cover - an interpreter without the C module
            from datetime import datetime

        when = datetime.fromisoformat(when)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def style(text: str, code: str, stream: TextIO = sys.stdout) -> str:
    return f"\033[{code}m{text}\033[0m" if use_colour(stream) else text


class UI:
    def __init__(self, *, quiet: bool = False, interactive: bool | None = None,
                 out: TextIO | None = None, err: TextIO | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.interactive = sys.stdin.isatty() if interactive is None else interactive

    # -- output ----------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, title: str) -> None:
        print(style(f"==> {title}", "1", self.out), file=self.out, flush=True)

    def explain(self, text: str) -> None:
        """A sentence for newcomers on what happens and why; --quiet drops it."""
        if not self.quiet:
            print(style(f"    {text}", "2", self.out), file=self.out, flush=True)

    def warn(self, text: str) -> None:
        print(style(f"warning: {text}", "33", self.err), file=self.err, flush=True)

    # -- input -----------------------------------------------------------------------------------
    def ask(self, prompt: str, *, default: str = "", secret: bool = False,
            flag: str | None = None, key: str | None = None) -> str:
        if not self.interactive:
            if default:
                return default
            raise MissingInput(prompt, flag=flag, key=key)
        suffix = f" [{default}]" if default and not secret else ""
        try:
            if secret:
                import getpass

                from onboard.memory_guard import no_core_dumps

                no_core_dumps()
                value = getpass.getpass(f"{prompt}: ")
            else:
                print(f"{prompt}{suffix}: ", end="", file=self.err, flush=True)
                value = sys.stdin.readline()
                if not value:
                    raise MissingInput(prompt, flag=flag, key=key)
                value = value.rstrip("\n")
        except EOFError:
            raise MissingInput(prompt, flag=flag, key=key) from None
        return value or default

    def confirm(self, question: str, *, flag: str) -> bool:
        if not self.interactive:
            raise UsageError(f"{question} — cannot ask without a terminal.", f"Pass {flag} to answer yes.")
        answer = self.ask(f"{question} [y/N]", default="n")
        return answer.strip().lower() in ("y", "yes")
