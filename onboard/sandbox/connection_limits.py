"""How many connections the sandbox's HTTPS listeners hold, and for how long a request may take.

A room of strangers can open connections and send nothing (or one byte every few seconds, which a per-read
timeout never ends). So: at most PER_ADDRESS connections from one address and TOTAL in all (a connection
over either is closed at once, with a log line, at most one a minute per address); and a whole-request
deadline: the TLS handshake, the request line, the headers and the body must all arrive within
REQUEST_SECONDS of the connection (or of the previous answer, on a kept-alive connection), else the
connection is shut. The watch runs from the listener's own loop (web._Server.service_actions).

A connection kept alive between requests is the client's to reuse, not a claim on a place: when an
address (a room behind one NAT, or every trainee on loopback) is at its limit, its longest-idle kept-alive
connection is shut to make room, as web servers do with idle keep-alives under load; an HTTP client sees a
closed idle connection before reusing it and opens a new one. A connection that has sent nothing yet is
never idle in this sense: a stranger's silent connections still count until the deadline ends them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

PER_ADDRESS = 64  # a trainee's onboard uses one or two at a time: a classroom behind one NAT address fits
TOTAL = 512
REQUEST_SECONDS = 20.0
LOG_EVERY = 60.0


class ConnectionLimits:
    def __init__(self, log, per_address: int = PER_ADDRESS, total: int = TOTAL,
                 request_seconds: float = REQUEST_SECONDS):
        self.log = log
        self.per_address, self.total, self.request_seconds = per_address, total, request_seconds
        self._lock = threading.Lock()
        self._by_address: dict[str, int] = {}
        self._count = 0
        self._deadlines: dict[socket.socket, float] = {}
        self._logged: dict[str, float] = {}
        self._idle: dict[socket.socket, str] = {}  # kept alive after an answer; oldest first

    def admit(self, address: str) -> bool:
        """Count a new connection from `address`, or say no (the caller closes it). At a limit, an idle
        kept-alive connection (of the same address, at its own limit) is shut to make room."""
        evict = None
        with self._lock:
            held = self._by_address.get(address, 0)
            if held >= self.per_address or self._count >= self.total:
                same = held >= self.per_address
                evict = next((s for s, a in self._idle.items() if a == address or not same), None)
                if evict is not None:
                    del self._idle[evict]  # its thread releases its place when the shut read returns
                    self._deadlines.pop(evict, None)
            if evict is not None or (held < self.per_address and self._count < self.total):
                self._by_address[address] = held + 1
                self._count += 1
                admitted = True
            else:
                admitted = False
        if evict is not None:
            with contextlib.suppress(OSError):
                evict.shutdown(socket.SHUT_RDWR)
        if admitted:
            return True
        with self._lock:
            why = (f"{held} connections from this address already" if held >= self.per_address
                   else f"{self._count} connections in all already")
            now = time.monotonic()
            quiet = now - self._logged.get(address, -LOG_EVERY) < LOG_EVERY
            if not quiet:
                if len(self._logged) > 4096:
                    self._logged.clear()
                self._logged[address] = now
        if not quiet:
            self.log(f"{address}: connection turned away ({why}; the limit is {self.per_address} per "
                     f"address, {self.total} in all)")
        return False

    def release(self, address: str) -> None:
        with self._lock:
            held = self._by_address.get(address, 0) - 1
            if held > 0:
                self._by_address[address] = held
            else:
                self._by_address.pop(address, None)
            self._count -= 1

    def arm(self, sock: socket.socket, idle_from: str | None = None) -> None:
        """The clock of a request starts: it must be read whole within request_seconds. `idle_from`: the
        connection's address when it is kept alive after an answer (so it may make room, see admit)."""
        with self._lock:
            self._deadlines[sock] = time.monotonic() + self.request_seconds
            if idle_from is not None:
                self._idle[sock] = idle_from

    def disarm(self, sock: socket.socket) -> None:
        """The request is read (the handler's own time is not limited here), or the connection is done."""
        with self._lock:
            self._deadlines.pop(sock, None)
            self._idle.pop(sock, None)

    def reap(self) -> None:
        """Shut every connection whose request is late: its blocked read returns at once."""
        now = time.monotonic()
        with self._lock:
            late = [s for s, t in self._deadlines.items() if t < now]
            for s in late:
                del self._deadlines[s]
        for s in late:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
