"""The sandbox's connection limits (onboard/sandbox/connection_limits.py) on real sockets: a room behind one
address (a NAT, or every trainee on loopback) is never turned away because its clients keep connections
alive between requests; a stranger's silent connections still are."""

from __future__ import annotations

import socket
import time

import pytest

from onboard.sandbox.connection_limits import ConnectionLimits


def _pair() -> tuple[socket.socket, socket.socket]:
    server, client = socket.socketpair()
    client.settimeout(5)
    return server, client


def test_an_idle_kept_alive_connection_makes_room_for_a_new_one_from_its_address():
    log: list[str] = []
    limits = ConnectionLimits(log.append, per_address=2, total=10)
    pairs = [_pair() for _ in range(2)]
    for _ in pairs:
        assert limits.admit("10.0.0.7")
    limits.arm(pairs[0][0], idle_from="10.0.0.7")  # answered once, now waiting for the client's next request
    limits.arm(pairs[1][0])  # has sent nothing yet
    assert limits.admit("10.0.0.7")  # a third trainee behind the same address
    assert pairs[0][1].recv(1) == b""  # the idle one was shut (its client reconnects when it needs to)
    pairs[1][0].setblocking(False)
    pairs[1][1].setblocking(False)
    try:
        pairs[1][1].recv(1)
        raise AssertionError("the connection that has sent nothing was shut")
    except BlockingIOError:
        pass  # still open
    assert not log
    for s in (s for p in pairs for s in p):
        s.close()


def test_silent_connections_are_not_idle_and_still_turn_a_stranger_away():
    log: list[str] = []
    limits = ConnectionLimits(log.append, per_address=2, total=10)
    silent = [_pair() for _ in range(2)]
    for server, _ in silent:
        assert limits.admit("10.0.0.66")
        limits.arm(server)
    assert not limits.admit("10.0.0.66")
    assert "connection turned away" in log[0]
    # another address's idle connection is not taken for this one's per-address limit
    other = _pair()
    assert limits.admit("10.0.0.8")
    limits.arm(other[0], idle_from="10.0.0.8")
    assert not limits.admit("10.0.0.66")
    other[0].setblocking(False)
    other[1].setblocking(False)
    try:
        other[1].recv(1)
        raise AssertionError("another address's idle connection was shut")
    except BlockingIOError:
        pass
    for s in (s for p in [*silent, other] for s in p):
        s.close()


def test_at_the_total_limit_any_idle_connection_makes_room():
    limits = ConnectionLimits(lambda msg: None, per_address=5, total=2)
    a, b = _pair(), _pair()
    assert limits.admit("10.0.0.1") and limits.admit("10.0.0.2")
    limits.arm(a[0], idle_from="10.0.0.1")
    limits.disarm(a[0])  # a request came in on it: busy, not idle any more
    limits.arm(b[0], idle_from="10.0.0.2")
    assert limits.admit("10.0.0.3")
    assert b[1].recv(1) == b""
    for s in (*a, *b):
        s.close()


@pytest.mark.servers
def test_a_room_on_one_address_keeping_connections_alive_is_never_turned_away(sandbox):
    """bench/orientation at 100 trainees lost some to "connection turned away (64 connections from this
    address already)": each trainee's onboard keeps its connection alive while it polls. With the limit
    lowered to 8 here, 12 clients on one address each hold a kept-alive connection and all get answers."""
    import requests

    listener = sandbox.listeners["open"]
    listener.server.limits.per_address = 8
    seen: list[str] = []
    listener.server.limits.log = seen.append
    url = f"https://localhost:{listener.port}/onboard/join"
    clients = [requests.Session() for _ in range(12)]
    try:
        for _ in range(2):  # each keeps its connection between the rounds
            for c in clients:
                r = c.get(url, timeout=10, verify=str(sandbox.ca.bundle_path))
                assert r.status_code == 200
        assert not seen  # nobody of the room was turned away
        # a stranger's silent connections are still turned away at the limit
        silent = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(8)]
        try:
            deadline = time.monotonic() + 5
            while not any("turned away" in m for m in seen) and time.monotonic() < deadline:
                silent.append(socket.create_connection(("127.0.0.1", listener.port)))
                time.sleep(0.05)
            assert any("turned away" in m for m in seen)
        finally:
            for s in silent:
                s.close()
    finally:
        for c in clients:
            c.close()
