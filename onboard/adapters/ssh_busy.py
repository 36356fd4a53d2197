"""What a busy SSH host looks like from the client: the failures another try may mend.

sshd drops new connections beyond MaxStartups before the banner ("Error reading SSH protocol banner", a
reset), refuses channels beyond MaxSessions (a ChannelException), and an overloaded server may close a
connection under a channel being opened ("Unable to open channel", "Channel closed").
"""

from __future__ import annotations

import paramiko

from onboard.errors import Exit, SSHError


class TransientSSHError(SSHError):
    """The connection or a channel failed in a way another try may mend (a busy or restarting host)."""

    exit_code = Exit.NETWORK


# what paramiko and the socket say when a busy host drops a connection or refuses a channel
_BUSY_WORDS = (
    "unable to open channel",
    "channel closed",
    "timeout opening channel",
    "error reading ssh protocol banner",
    "eof during negotiation",
    "connection reset",
    "broken pipe",
    "socket is closed",
)


def transient(e: BaseException) -> bool:
    if isinstance(e, (paramiko.ChannelException, EOFError, ConnectionResetError, ConnectionAbortedError)):
        return True
    if isinstance(e, (BrokenPipeError, TransientSSHError)):
        return True
    return any(w in str(e).lower() for w in _BUSY_WORDS)
