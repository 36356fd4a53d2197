"""The journey record: where one journey (one VO) stands, what it has made, and what it waits for.

Never a secret in here: no passphrase, password, token or key material. Paths, DNs, fingerprints and
server-side request ids are fine.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from onboard import __version__
from onboard.schema import SCHEMA_VERSION


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Certificate(Model):
    """What onboard knows of the user's certificate (all public)."""

    subject_dn: str = ""  # OpenSSL slash form, as VOMS stores it: /DC=org/DC=x/CN=Jane Doe
    issuer_dn: str = ""
    serial: str = ""  # hex
    not_before: datetime | None = None
    not_after: datetime | None = None
    sha256: str = ""  # fingerprint of the DER certificate, hex with colons


class Artifacts(Model):
    p12: Path | None = None  # the CA's PKCS#12, moved into onboard's data directory
    cert: Path | None = None
    key: Path | None = None
    chain: Path | None = None
    package: Path | None = None  # the clean .p12 for browsers and the submit host
    csr: Path | None = None
    certificate: Certificate = Field(default_factory=Certificate)
    registration_url: str = ""
    request_id: str = ""  # the registration server's id of our request
    fqans: list[str] = Field(default_factory=list)  # what voms-proxy-info showed at verification
    remote: dict[str, str] = Field(default_factory=dict)  # submit host: paths and fingerprints there
    # step-specific facts that need no schema of their own (all non-secret)
    extra: dict[str, Any] = Field(default_factory=dict)


class Wait(Model):
    """A state in which the journey waits for the outside world."""

    what: str
    since: datetime
    next_check_after: datetime | None = None  # None: a person must act first (no polling)
    checks: int = 0


class LastError(Model):
    at: datetime
    step: str
    message: str
    hint: str = ""
    exit_code: int = 1


class JourneyRecord(Model):
    schema_version: int = SCHEMA_VERSION
    onboard_version: str = __version__
    vo: str
    workflow: str
    state: str | list[str]  # a list while parallel regions are active
    created: datetime = Field(default_factory=utcnow)
    updated: datetime = Field(default_factory=utcnow)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    waits: dict[str, Wait] = Field(default_factory=dict)  # keyed by the waiting state
    attempts: dict[str, int] = Field(default_factory=dict)  # keyed by step
    last_error: LastError | None = None
    outcome: str = ""  # why a journey ended somewhere else than `done` (rejection reason, ...)
    completed: dict[str, datetime] = Field(default_factory=dict)  # state -> when it was left

    @property
    def next_check_after(self) -> datetime | None:
        due = [w.next_check_after for w in self.waits.values() if w.next_check_after]
        return min(due) if due else None

    def states(self) -> list[str]:
        return self.state if isinstance(self.state, list) else [self.state]
