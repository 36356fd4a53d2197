"""The token step: an oidc-agent account for the VO's issuer through the device login, then a token
from `oidc-token` checked (verify.py). What `onboard tokens` and the IAM journey's token step run."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from onboard.errors import Waiting
from onboard.tokens import agent as agentmod
from onboard.tokens import verify as verifymod

POLL = 1.0  # seconds between looks at the background oidc-gen


def run_dir() -> Path:
    from onboard import paths

    return paths.ensure_private_dir(paths.state_dir() / "tokens")


def verify(cfg: Any, entry: Any, token: str) -> dict[str, Any]:
    context = verifymod.tls_context(_trust_path(cfg))
    keys = verifymod.issuer_keys(entry.token_issuer, context)
    return verifymod.check(token, issuer=entry.token_issuer, vo=entry.name, keys=keys, now=time.time())


def _trust_path(cfg: Any) -> Path | None:
    """The grid trust directory in use (the sandbox's CA is there for a sandbox session), or None."""
    from onboard.pki import trustdirs

    found = trustdirs.find(trustdirs.configured(cfg))
    return found.path if found else None


def ca_bundle(trust: Path | None, where: Path) -> Path | None:
    """oidc-gen takes a CA file, not a directory: the trust directory's anchors and the system's, in one."""
    if trust is None:
        return None
    from onboard.atomicfile import write_atomic

    parts = []
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    if system.exists():
        parts.append(system.read_bytes())
    for f in sorted(trust.iterdir()):
        if f.suffix == ".pem" or (f.suffix[1:].isdigit() and f.name[:8].isalnum()):
            data = f.read_bytes()
            if b"BEGIN CERTIFICATE" in data and data not in parts:
                parts.append(data)
    path = where / "ca-bundle.pem"
    write_atomic(path, b"\n".join(parts), 0o644)
    return path


def obtain(cfg: Any, entry: Any, ui: Any, *, account: str, wait: int, password: Callable[[], str]) -> dict:
    """An account for the issuer (a login when there is none yet), a token from it, checked; `password`
    is asked only when oidc-gen must make the account."""
    rd = run_dir()
    agent = agentmod.agent(rd)
    if account not in agentmod.accounts(agent):
        _login(cfg, entry, ui, agent, rd, account, wait, password)
    if agent.own:
        ui.say(f"oidc-agent for this session: export OIDC_SOCK={agent.env['OIDC_SOCK']}")
    return verify(cfg, entry, agentmod.token(agent, account))


def _login(cfg, entry, ui, agent, rd: Path, account: str, wait: int, password: Callable[[], str]) -> None:
    from onboard.adapters import desktop

    login = agentmod.running_login(rd, account)
    if login is None:
        bundle = ca_bundle(_trust_path(cfg), rd)
        login = agentmod.start_login(agent, rd, account, entry.token_issuer, password(), bundle)
    shown = False
    deadline = time.monotonic() + max(wait, 0) + 10  # oidc-gen needs a moment to register and ask
    while True:
        status = agentmod.finished(login)
        if status is not None:
            if status != 0 or account not in agentmod.accounts(agent):
                raise agentmod.AgentError(
                    f"oidc-gen could not make the account {account}: {agentmod.log_tail(rd, account)}",
                    f"Run onboard again; the log is {rd / f'oidc-gen.{account}.log'}.",
                )
            return
        url, code = agentmod.progress(rd / f"oidc-gen.{account}.log")
        if url and code and not shown:
            ui.say(f"Log in to {entry.name}'s IAM: open {url} and enter the code {code}")
            desktop.open_page(url)
            shown = True
            deadline = min(deadline, time.monotonic() + wait)
        if time.monotonic() > deadline:
            what = f"the login at {entry.token_issuer}" + (f": open {url} and enter {code}" if code else "")
            raise Waiting(what, None, "Approve it in the browser, then run `onboard tokens` again.")
        time.sleep(POLL)
