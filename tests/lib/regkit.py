"""Registration kit: the sandbox's HTTPS registration servers started in-process (no SSH host), a user
credential as onboard's convert step leaves it (certificate, chain, *encrypted* key), configuration and
step contexts over them, and a registration-only workflow for journeys."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from onboard.atomicfile import write_new
from tests.lib import sandbox
from tests.lib.clock import Clock
from tests.lib.context import output, step_context  # noqa: F401  (output: re-exported for the tests)

PASSPHRASE = "correct horse battery staple"
VO = "sandbox"
EMAIL = "jane@example.org"


class Servers:
    """Where the registration services of a test live (URLs per service, the mail, the trust directory),
    whether a started sandbox or recorded pages answer."""

    dir: Path

    @property
    def trust_dir(self) -> Path:
        return self.dir / "ca" / "certificates"

    def url(self, listener: str = "voms") -> str:
        raise NotImplementedError

    def voms_admin_url(self, vo: str = VO) -> str:
        return f"{self.url('voms')}/voms/{vo}"

    def iam_url(self, vo: str = VO) -> str:
        return f"{self.url('open')}/iam/{vo}"

    def vomrs_url(self, vo: str = VO) -> str:
        return f"{self.url('voms')}/vo/{vo}/vomrs"

    def maildir(self, address: str = EMAIL) -> Path:
        return self.dir / "mail" / address


@dataclass
class Sandbox(Servers):
    """The registration servers of a started sandbox as these tests see them, and every request the servers
    answered (the tests' "server's request count")."""

    dir: Path
    ctx: Any  # onboard.sandbox.context.SandboxContext
    app: Any  # onboard.sandbox.web.App
    manager: Any = None  # onboard.sandbox.manager.Sandbox
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (listener, method, path) served

    @property
    def listeners(self) -> dict[str, Any]:
        return self.manager.listeners

    def url(self, listener: str = "voms") -> str:
        return f"https://localhost:{self.listeners[listener].port}"

    def count(self, method: str | None = None, contains: str = "") -> int:
        return sum(1 for _, m, p in self.requests if (method is None or m == method) and contains in p)

    def stop(self) -> None:
        self.manager.stop()


def start_registration_servers(
    d: Path, vos: tuple[str, ...] = (VO,), clock: Clock | None = None, **settings: Any
) -> Sandbox:
    """The sandbox's registration servers (no SSH host), counting the requests they answer."""
    manager = sandbox.start_sandbox(
        d, clock, vos=vos, ssh=False, log_file=d / "sandbox.log", hostname="localhost", bind="127.0.0.1",
        **settings,
    )
    sb = Sandbox(manager.dir, manager.ctx, manager.app, manager)
    inner = manager.app.dispatch

    def counting(req):
        sb.requests.append((req.listener, req.method, req.path))
        return inner(req)

    manager.app.dispatch = counting  # type: ignore[method-assign]
    return sb


@dataclass
class UserCred:
    cert: Path
    key: Path  # encrypted PKCS#8 PEM, 0600
    chain: Path
    passphrase_file: Path
    subject: str
    issuer: str
    email: str = EMAIL


def issue_user(sb: Sandbox, d: Path, name: str = "Jane Doe", email: str = EMAIL) -> UserCred:
    """A personal certificate from the sandbox's CA, as onboard's convert step leaves it."""
    data, info = sb.ctx.ca.issue_user(name, email, PASSPHRASE.encode())
    key, cert, chain = pkcs12.load_key_and_certificates(data, PASSPHRASE.encode())
    return write_cred(d, cert, key, chain or [], info.subject, info.issuer, email)


def write_cred(d: Path, cert: Any, key: Any, chain: list, subject: str, issuer: str, email: str) -> UserCred:
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path, chain_path = d / "usercert.pem", d / "userkey.pem", d / "chain.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    chain_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    encrypted = serialization.BestAvailableEncryption(PASSPHRASE.encode())
    write_new(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          encrypted))
    pf = d / "passphrase"
    fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(PASSPHRASE + "\n")
    return UserCred(cert_path, key_path, chain_path, pf, subject, issuer, email)


def make_config(
    sb: Servers,
    *,
    kind: str = "voms-admin",
    mail: dict[str, Any] | None = None,
    registration: dict[str, Any] | None = None,
    vo: str = VO,
) -> Any:
    from onboard.config import Config

    url = {"voms-admin": sb.voms_admin_url, "iam": sb.iam_url, "vomrs": sb.vomrs_url}[kind](vo)
    data = {
        "vo": vo,
        "user": {
            "given_name": "Jane",
            "family_name": "Doe",
            "email": EMAIL,
            "institution": "Example University",
            "phone": "+1 555 0100",
            "address": "1 Example Road",
        },
        "vos": {vo: {"kind": kind, "url": url}},
        "mail": mail or {"kind": "maildir", "maildir": str(sb.maildir())},
        "registration": {
            "poll_min_seconds": 60,
            "poll_max_seconds": 3600,
            "timeout_seconds": 10,
            **(registration or {}),
        },
        "trust": {"cert_dir": str(sb.trust_dir)},
    }
    return Config.model_validate(data)


def make_record(cred: UserCred, workflow: str = "voms-admin", vo: str = VO, state: str = "register") -> Any:
    from onboard.state import JourneyRecord

    rec = JourneyRecord(vo=vo, workflow=workflow, state=state)
    rec.artifacts.cert, rec.artifacts.key, rec.artifacts.chain = cred.cert, cred.key, cred.chain
    return rec


def make_ctx(
    cfg: Any,
    record: Any,
    cred: UserCred,
    clock: Clock,
    *,
    state: str = "register",
    options: dict[str, Any] | None = None,
    checkpoint: Any = None,
) -> Any:
    return step_context(
        record=record,
        config=cfg,
        passphrase_file=cred.passphrase_file,
        checkpoint=checkpoint,
        now=clock,
        state=state,
        options=options,
    )


# A workflow of the registration states alone (the real ones run delivery side by side).
_WF_HEAD = """
[workflow]
name = "{kind}"
title = "registration only ({kind})"
initial = "register"

[states.register]
description = "Register"

[states.confirm_email]
description = "Confirm"
wait = true

[states.await_approval]
description = "Await approval"
wait = true

[states.approved]
description = "Member"
final = true

[states.rejected]
description = "Rejected"
final = true

[states.expired]
description = "Expired"
final = true
"""
_WF_LINK = """
[states.link_certificate]
description = "Link the certificate"
wait = true

[[transitions]]
trigger = "linked"
source = "link_certificate"
dest = "approved"
step = "link_certificate"
"""
_TRANSITIONS = [
    ("registered", "register", "confirm_email", "register"),
    ("rejected", "register", "rejected", ""),
    ("confirmed", "confirm_email", "await_approval", "confirm_email"),
    ("expired", "confirm_email", "expired", ""),
    ("approved", "await_approval", "{approved_dest}", "await_approval"),
    ("rejected", "await_approval", "rejected", ""),
    ("expired", "await_approval", "expired", ""),
]


def registration_workflow(d: Path, kind: str) -> Path:
    text = _WF_HEAD.format(kind=kind)
    dest = "link_certificate" if kind == "iam" else "approved"
    for trig, src, dst, step in _TRANSITIONS:
        dst = dst.format(approved_dest=dest)
        text += f'\n[[transitions]]\ntrigger = "{trig}"\nsource = "{src}"\ndest = "{dst}"\n'
        if step:
            text += f'step = "{step}"\n'
    if kind == "iam":
        text += _WF_LINK
    path = d / f"registration-{kind}.toml"
    path.write_text(text)
    return path


@dataclass
class Journey:
    engine: Any
    store: Any
    record: Any
    ctx: Any

    def run(self) -> Any:
        return self.engine.run()


def make_journey(
    d: Path,
    cfg: Any,
    cred: UserCred,
    clock: Clock,
    kind: str,
    *,
    options: dict[str, Any] | None = None,
    checkpoint: Any = None,
) -> Journey:
    """An engine over the registration states, with a real store in `d` (as `onboard resume` has it)."""
    from onboard import steps, workflow
    from onboard.engine import Engine
    from onboard.store import Store

    d.mkdir(parents=True, exist_ok=True)
    store = Store(d / "state")
    wf = workflow.load(registration_workflow(d, kind), steps.names())
    record = store.load(VO) if store.exists(VO) else make_record(cred, workflow=wf.name, state=wf.initial)
    store.save(record)
    ctx = make_ctx(
        cfg, record, cred, clock, options=options, checkpoint=checkpoint or (lambda: store.save(record))
    )
    return Journey(Engine(wf, record, store, ctx, steps.resolve), store, record, ctx)
