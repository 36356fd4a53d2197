"""Keeping secrets out of core dumps: called before a passphrase or password first enters memory.

A core dump (or `gdb -p`, or /proc/PID/mem read by the same user) of an onboard that holds a passphrase
would hold it too. So, as ssh-agent and gpg-agent do: the core size limit goes to 0 (inherited by every
child, openssl included) and, on Linux, the process is marked non-dumpable, which also stops other
processes of the same user from attaching to it or reading its memory and environment. Only the soft
limit is lowered: it is the one the kernel obeys, and a hard limit of 0 could not be raised again by
anything onboard starts (a test runner's later children included) without CAP_SYS_RESOURCE.
"""

from __future__ import annotations

import sys

_guarded = False


def no_core_dumps() -> None:
    """Idempotent; failures are ignored (a platform without these calls has no such dumps either)."""
    global _guarded
    if _guarded:
        return
    _guarded = True
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (ImportError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_dumpable = 4
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)
        except (OSError, AttributeError):
            pass
