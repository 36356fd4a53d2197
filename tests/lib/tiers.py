"""The two tiers of the suite: the fast tier (`scripts/test --fast`: `-m "not servers and not slow"`)
starts no server process; the full tier runs everything.

A test is in the `servers` tier when it is marked so, or when it uses a fixture that starts a server
(SERVER_FIXTURES: tests/conftest.py marks those at collection). Every helper that starts a server calls
guard(): a test that starts one without being in the `servers` tier fails, in every run, so the fast
tier cannot slowly fill with servers unnoticed.
"""

from __future__ import annotations

MARK = "servers"

# fixtures whose use starts a real server or the sandbox (directly or through their dependencies)
SERVER_FIXTURES = frozenset(
    {
        "sshd",
        "sshd_factory",
        "submit_home",
        "voms_server",
        "dovecot",
        "dovecot_factory",
        "sandbox",
        "sandbox_ca_template",
    }
)

# the test being run (set by tests/conftest.py); None outside pytest, e.g. in a child process
current = None


class NotInServersTier(AssertionError):
    pass


def guard(what: str) -> None:
    """Called by every helper that starts a server: the running test must be in the servers tier."""
    item = current
    if item is not None and item.get_closest_marker(MARK) is None:
        raise NotInServersTier(
            f"{item.nodeid} starts {what} but is not in the servers tier: mark it @pytest.mark.servers "
            "(scripts/test --fast must start no server)"
        )
