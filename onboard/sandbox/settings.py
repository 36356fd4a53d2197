"""The sandbox's settings, kept in DIR/sandbox.json so that a restart serves the same grid again."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

DEFAULT_PORT_BASE = 8443  # VOMS-Admin's port: e-mail links name it, so by default they simply work
VO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# port_base + offset; 0 as port_base picks free ports for each (tests)
PORT_OFFSETS = {"voms": 0, "open": 1, "ssh": 2}


@dataclass
class Settings:
    hostname: str = "localhost"  # voms.hostname: the name in e-mail links and host certificates
    bind: str = "127.0.0.1"
    port_base: int = DEFAULT_PORT_BASE
    ports: dict[str, int] = field(default_factory=dict)  # actual ports once started (listener -> port)
    vos: list[str] = field(default_factory=lambda: ["sandbox"])
    disabled_vos: list[str] = field(default_factory=list)  # voms.registration.enabled = false
    # VOs configured as by `voms-configure --disable-ro-access-for-authenticated-clients`: apiv2 then tells
    # a certificate only about its own member record (VOMS-Admin's FindUserOperation), refuses the rest
    no_read_access_vos: list[str] = field(default_factory=list)
    # IAM VOs served as CERN's IAM (iam-login-service's `cern` profile): registration only after a login
    # (the "sandbox SSO — not CERN"), an anonymous POST /registration/create refused, the certificate
    # linked from the logged-in session (onboard/sandbox/iam/cern_profile.py)
    cern_profile_vos: list[str] = field(default_factory=list)
    # voms.request.vo_membership.lifetime: VOMS-Admin's configure script default (7 days)
    request_lifetime: int = 604800
    warn_when_expired: bool = True
    required_fields: list[str] = field(default_factory=lambda: ["institution", "address", "phoneNumber"])
    auto_approve_after: float | None = None  # seconds after confirmation; None: the instructor approves
    on_approval: str = ""  # command run on approval; gets DN, CA, e-mail, VO (environment and {placeholders})
    # command run for each certificate of a member suspended or restored (voms_admin/lapses.py): DN, CA, VO
    # and the new state in its environment; `onboard sandbox voms-set-status` feeds a real voms-server
    on_status_change: str = ""
    # Port that e-mail links name. VOMS-Admin hard-codes 8443; None = the port the server listens on
    # (the links then work whatever port_base is); 8443 with another port_base reproduces the real server's
    # mismatch, which a client must map back to the server it registered with.
    link_port: int | None = None
    smtp: str = ""  # host:port of an SMTP server; empty = deliver into DIR/mail/<address>/ (Maildir)
    mail_from: str = ""  # voms.notification.email-address; default voms-admin@<hostname>
    admin_email: str = ""  # who gets "requires your approval"; default vo-admin@<hostname>
    voms_port_base: int = 15000  # vomses port of the n-th VO's vomsd (15000 + n)
    aup_text: str = ""
    # group managers ({"name", "email", "description"}): the confirmation link then asks to choose one,
    # who gets the approval mail (voms.request.vo_membership.require_group_manager_selection)
    group_managers: list[dict[str, str]] = field(default_factory=list)
    require_group_manager_selection: bool = True
    # groups below each VO's root ("analysis" -> /<vo>/analysis); with enable_attribute_requests the
    # confirmation asks which of them the requester wants
    # (voms.request.vo_membership.enable_attribute_requests)
    groups: list[str] = field(default_factory=list)
    enable_attribute_requests: bool = False
    ssh_users: list[str] = field(default_factory=list)
    # the submit host: "auto" = OpenSSH's sshd with a Unix account per seat when run as root (a classroom
    # VM), else paramiko with bubblewrap; "sshd" or "paramiko" to choose
    submit_host: str = "auto"

    def port_for(self, listener: str) -> int:
        if listener in self.ports:
            return self.ports[listener]
        return 0 if self.port_base == 0 else self.port_base + PORT_OFFSETS[listener]

    @property
    def sender(self) -> str:
        return self.mail_from or f"voms-admin@{self.hostname}"

    @property
    def admin(self) -> str:
        return self.admin_email or f"vo-admin@{self.hostname}"

    def voms_port(self, vo: str) -> int:
        return self.voms_port_base + self.vos.index(vo)

    def check(self) -> None:
        for vo in self.vos:
            if not VO_NAME.match(vo):
                raise ValueError(f"'{vo}' is not a valid VO name")
        if not self.vos:
            raise ValueError("at least one VO is needed")
        if self.submit_host not in ("auto", "sshd", "paramiko"):
            raise ValueError(f"'{self.submit_host}' is not a submit host (auto, sshd or paramiko)")
        for vo in self.no_read_access_vos:
            if vo not in self.vos:
                raise ValueError(f"'{vo}' (without read access) is not one of the VOs served")
        for vo in self.cern_profile_vos:
            if vo not in self.vos:
                raise ValueError(f"'{vo}' (CERN profile) is not one of the VOs served")

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        from onboard.atomicfile import write_atomic

        write_atomic(path, (json.dumps(asdict(self), indent=2) + "\n").encode(), mode=0o600)
