"""Handing secrets to a child process through pipes: never its argv, never its environment (readable in
/proc/PID/environ by the same user), never a file on disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from onboard.errors import OnboardError

PIPE_BUFFER = 60000  # pipe buffers are at least 64 KiB on Linux and macOS: the write never blocks


@contextmanager
def secret_fds(*secrets: str, error: type[OnboardError] = OnboardError) -> Iterator[list[str]]:
    """Each secret (and a newline) in a pipe of its own, named /dev/fd/N for the child; the descriptors
    go to the child with `pass_fds=fd_numbers(names)` and are closed here afterwards."""
    fds: list[int] = []
    try:
        for s in secrets:
            data = (s + "\n").encode()
            if len(data) > PIPE_BUFFER:
                raise error("a password that long cannot be passed safely.", "Use a shorter one.")
            r, w = os.pipe()
            fds.append(r)
            os.write(w, data)
            os.close(w)
        yield [f"/dev/fd/{r}" for r in fds]
    finally:
        for r in fds:
            os.close(r)


def fd_numbers(names: list[str]) -> tuple[int, ...]:
    return tuple(int(n.rsplit("/", 1)[1]) for n in names)
