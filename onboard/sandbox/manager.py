"""The sandbox as one object: start and stop its servers in this process, and everything tests need.

    sb = Sandbox(tmp_path / "sb", Settings(port_base=0, vos=["testvo"])).start()
    data, info = sb.issue_user_p12("Jane Doe", "jane@example.org", b"a passphrase", legacy=True)
    sb.registration_url("testvo")      # https://localhost:PORT/voms/testvo
    sb.trust_dir, sb.maildir("jane@example.org"), sb.ssh_port, sb.ssh_fingerprint, sb.ssh_home("jane")
    sb.approve(request_id); sb.reject(request_id, "reason"); sb.requests()
    sb.onboard_config(email=..., user=...)   # a ready-made onboard configuration (dict; .config_toml())
    sb.stop()

`onboard sandbox up` runs the same object in a background process (daemon.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import Any

from onboard.sandbox.context import SandboxContext
from onboard.sandbox.settings import Settings
from onboard.toml_text import toml_key, toml_value

TICK_SECONDS = 0.5  # how often expiry and auto-approval are looked at


class Sandbox:
    def __init__(
        self, dir: Path, settings: Settings | None = None, *, clock=None, log_file: Path | None = None
    ):
        self.dir = Path(dir).expanduser().resolve()
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.dir / "sandbox.json"
        if settings is None:
            settings = Settings.load(path) if path.exists() else Settings()
        settings.check()
        self.settings = settings
        self.ctx = SandboxContext(self.dir, settings, clock=clock, log_file=log_file)
        self.app = None
        self.listeners: dict[str, Any] = {}
        self.ssh = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------------------
    def prepare(self) -> Sandbox:
        """The CA, host and VOMS certificates and the SSH host key, made once (the only slow part)."""
        ca = self.ctx.ca.ensure()
        ca.bundle_path  # noqa: B018 - made here, for clients that want a CA file
        ca.host_credential("host", self._host_names())
        ca.host_credential("voms", [self.settings.hostname])
        return self

    def _host_names(self) -> list[str]:
        names = [self.settings.hostname]
        if self.settings.bind not in ("0.0.0.0", "::", "") and self.settings.bind not in names:
            names.append(self.settings.bind)
        return names

    def _port(self, name: str) -> int:
        return self.settings.ports.get(name) or self.settings.port_for(name)

    def start(self, *, ssh: bool = True) -> Sandbox:
        from onboard.sandbox.submit_host import SubmitHost, uses_sshd
        from onboard.sandbox.web import App, Listener, server_context

        real_sshd = ssh and uses_sshd(self.settings)
        if ssh and not real_sshd:
            from onboard.sandbox.submit_host import confine

            confine.require_for(self.settings.bind)  # before any port is taken
        self.prepare()
        cert, key = self.ctx.ca.host_credential("host", self._host_names())
        app = App(self.ctx)
        app.install_extensions()
        self.app = app
        started: list[Any] = []
        try:
            for name in app.listeners():
                tls = server_context(
                    str(cert),
                    str(key),
                    str(self.ctx.ca.trust_dir),
                    "required" if name == "voms" else "optional",
                )
                lst = Listener(app, name, self.settings.bind, self._port(name), tls)
                started.append(lst)
                self.listeners[name] = lst
                app.ports[name] = lst.port
            if real_sshd:
                from onboard.sandbox.submit_host.sshd import SSHDHost

                host = SSHDHost(self.dir / "submit", self.dir, self.settings.bind, self._port("ssh"),
                                log=self.ctx.log, trust_dir=self.ctx.ca.trust_dir)
                started.append(host)
                host.start(self._host_voms())
                self.ssh = host
            elif ssh:
                self.ssh = SubmitHost(
                    self.dir / "submit", self.settings.bind, self._port("ssh"), log=self.ctx.log,
                    read_only=(self.ctx.ca.trust_dir,),
                )
                started.append(self.ssh)
        except Exception as e:
            for part in started:  # bound, not yet serving: close their sockets (sshd: stopped, cleaned up)
                with contextlib.suppress(Exception):
                    if hasattr(part, "server"):
                        part.server.server_close()
                    elif hasattr(part, "sock"):
                        part.sock.close()
                    else:
                        part.stop()
            self.listeners.clear()
            self.ssh = None
            from onboard.errors import SandboxError

            if not isinstance(e, OSError):
                raise
            raise SandboxError(
                f"the sandbox cannot listen on {self.settings.bind}: {e.strerror or e}",
                "Another program (or sandbox) uses the port: choose others with --port-base N, "
                "or stop it (`onboard sandbox down --dir DIR`).",
            ) from None
        for lst in self.listeners.values():
            lst.start()
        if self.ssh is not None and not real_sshd:
            self.ssh.start()
        self.settings.ports = {**app.ports, **({"ssh": self.ssh.port} if self.ssh else {})}
        self.settings.save(self.dir / "sandbox.json")
        self._stop.clear()
        self.ctx.wake = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="sandbox-ticker", daemon=True)
        self._ticker.start()
        self.ctx.log(f"sandbox started: {json.dumps(self.endpoints())}")
        return self

    def _host_voms(self) -> dict[str, tuple[str, dict[str, list[str]]]]:
        """Each VO's vomses line and LSC, for the submit host's own VOMS files (sshd.py)."""
        host = self.settings.hostname
        return {vo: (self.vomses_line(vo), {host: self.lsc(vo)}) for vo in self.settings.vos}

    def refresh_host_voms(self) -> None:
        """The submit host's VOMS files again (the VOMS server's port was chosen after the start)."""
        if self.ssh is not None and hasattr(self.ssh, "publish"):
            self.ssh.publish(self._host_voms())

    def _tick(self) -> None:
        from onboard.sandbox import voms_admin
        from onboard.sandbox.voms_admin import lapses

        wake = self.ctx.wake
        assert wake is not None
        while True:
            wake.wait(TICK_SECONDS)  # a confirmation (auto-approve at once) or stop() sets it early
            wake.clear()
            if self._stop.is_set():
                break
            try:
                voms_admin.purge_expired(self.ctx, self.app)
                voms_admin.auto_approve(self.ctx)
                lapses.check_due(self.ctx)  # memberships and AUP signatures that came due
            except Exception as e:  # keep ticking; the log says what went wrong
                self.ctx.log(f"ticker: {type(e).__name__}: {e}")

    def tick(self) -> None:
        """Run expiry, auto-approval and the membership check now (tests, the demo's fast-forward clock)."""
        from onboard.sandbox import voms_admin
        from onboard.sandbox.voms_admin import lapses

        voms_admin.purge_expired(self.ctx, self.app)
        voms_admin.auto_approve(self.ctx)
        lapses.check_due(self.ctx)

    def stop(self) -> None:
        self._stop.set()
        if self.ctx.wake is not None:
            self.ctx.wake.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        for lst in self.listeners.values():
            lst.stop()
        self.listeners.clear()
        if self.ssh is not None:
            self.ssh.stop()
            self.ssh = None
        self.ctx.log("sandbox stopped")

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need ---------------------------------------------------------------------------------
    @property
    def trust_dir(self) -> Path:
        return self.ctx.ca.trust_dir

    @property
    def ca(self):
        return self.ctx.ca

    @property
    def mail_root(self) -> Path:
        return self.ctx.mail_dir

    def maildir(self, address: str) -> Path:
        return self.ctx.mail.maildir(address)

    @property
    def port(self) -> int:
        """The VOMS-Admin port (HTTPS, client certificate required)."""
        return self.settings.ports.get("voms") or self._port("voms")

    @property
    def ssh_port(self) -> int:
        return self.settings.ports.get("ssh") or self._port("ssh")

    @property
    def ssh_fingerprint(self) -> str:
        if self.ssh is not None:
            return self.ssh.fingerprint
        from onboard.sandbox.submit_host import fingerprint, load_or_make_host_key

        return fingerprint(load_or_make_host_key(self.dir / "submit" / "ssh_host_ed25519_key"))

    host_key_fingerprint = ssh_fingerprint

    def ssh_home(self, user: str) -> Path:
        from onboard.sandbox.submit_host import homes_for

        return homes_for(self.dir, self.settings).home(user)

    def ssh_account(self, user: str) -> str:
        """The login name of `user` on the submit host (obx-<user> for the real sshd's accounts)."""
        from onboard.sandbox.submit_host import homes_for

        return homes_for(self.dir, self.settings).account(user)

    def ssh_known_hosts_line(self, host: str = "127.0.0.1") -> str:
        from onboard.sandbox.submit_host import load_or_make_host_key

        key = load_or_make_host_key(self.dir / "submit" / "ssh_host_ed25519_key")
        return f"[{host}]:{self.ssh_port} {key.get_name()} {key.get_base64()}"

    def authorize_ssh_key(self, user: str, public_key_line: str) -> Path:
        from onboard.sandbox.submit_host import homes_for

        if self.ssh is not None:
            return self.ssh.authorize(user, public_key_line)
        return homes_for(self.dir, self.settings).authorize(user, public_key_line)

    def registration_url(self, vo: str) -> str:
        return f"https://{self.settings.hostname}:{self.port}/voms/{vo}"

    def issue_user_p12(
        self,
        name: str,
        email: str,
        passphrase: bytes,
        *,
        legacy: bool = False,
        out: Path | None = None,
        key_size: int = 2048,
        **kw: Any,  # days: a lifetime other than the CA's default (a session rehearsing the second year)
    ):
        return self.ctx.ca.ensure().issue_user(
            name, email, passphrase, out=out, legacy=legacy, key_size=key_size, **kw
        )

    def requests(self, vo: str | None = None) -> list[dict[str, Any]]:
        from onboard.sandbox import voms_admin

        return voms_admin.requests(self.ctx, vo)

    def members(self, vo: str | None = None) -> list[dict[str, Any]]:
        from onboard.sandbox import voms_admin

        return voms_admin.members(self.ctx, vo)

    def approve(self, request_id: int) -> dict[str, Any]:
        from onboard.sandbox import voms_admin

        return voms_admin.approve(self.ctx, request_id)

    def reject(self, request_id: int, reason: str | None = None) -> dict[str, Any]:
        from onboard.sandbox import voms_admin

        return voms_admin.reject(self.ctx, request_id, reason)

    def vomses_line(self, vo: str) -> str:
        from onboard.sandbox import voms_admin

        return voms_admin.vomses_line(self.ctx, vo)

    def lsc(self, vo: str) -> list[str]:
        from onboard.sandbox import voms_admin

        return voms_admin.lsc(self.ctx, vo)

    def endpoints(self) -> dict[str, Any]:
        s = self.settings
        out: dict[str, Any] = {
            "dir": str(self.dir),
            "bind": s.bind,
            "hostname": s.hostname,
            "vos": {
                vo: {
                    "registration": f"{self.registration_url(vo)}/register/start.action",
                    "vomses": self.vomses_line(vo),
                    "lsc": self.lsc(vo),
                }
                for vo in s.vos
            },
            "trust_dir": str(self.trust_dir),
            "mail": str(self.mail_root) if not s.smtp else f"smtp://{s.smtp}",
            "link_port": s.link_port or self.port,
        }
        if "open" in s.ports:
            out["open"] = f"https://{s.hostname}:{s.ports['open']}"
            from cryptography.hazmat.primitives.serialization import Encoding

            from onboard.sandbox.portal import fingerprint  # what trainees check on `onboard sandbox join`

            out["root_sha256"] = fingerprint(self.ca.root.public_bytes(Encoding.DER))
        if "ssh" in s.ports:
            from onboard.sandbox.submit_host import uses_sshd

            real = uses_sshd(s)
            out["ssh"] = {
                "host": s.hostname,
                "port": s.ports["ssh"],
                "fingerprint": self.ssh_fingerprint,
                "server": "openssh" if real else "paramiko",
                "homes": "/home/obx-*" if real else str(self.dir / "submit" / "home"),
            }
        return out

    def onboard_config(
        self,
        *,
        vo: str | None = None,
        email: str = "",
        given_name: str = "",
        family_name: str = "",
        ssh_user: str = "",
        identity_file: Path | None = None,
        tokens: bool = False,
    ) -> dict[str, Any]:
        """A configuration for onboard that points every part of the journey at this sandbox (`tokens`:
        each VO's token_issuer its sandbox IAM, so the IAM journey's token step runs)."""
        vo = vo or self.settings.vos[0]
        host = self.settings.hostname
        cfg: dict[str, Any] = {
            "vo": vo,
            "user": {
                k: v
                for k, v in {
                    "given_name": given_name,
                    "family_name": family_name,
                    "email": email,
                    "institution": "Onboard Sandbox",
                    "phone": "+00 000 000000",
                    "address": "Sandbox Lane 1",
                }.items()
                if v
            },
            "ca": {"provider": "sandbox", "sandbox_dir": str(self.dir)},
            "vos": {
                v: {
                    **self._service(v),
                    # every VO's sandbox IAM issues tokens; named (the token step on) when asked for
                    **({"token_issuer": f"{self.iam_url(v)}/"} if tokens else {}),
                    "vomses": [self.vomses_line(v)],
                    "lsc": {host: self.lsc(v)},
                }
                for v in self.settings.vos
            },
            "trust": {"cert_dir": str(self.trust_dir)},
        }
        if vo in self.settings.cern_profile_vos:
            # IAM's VOMS attribute authority answers REST (/generate-ac); Debian's voms daemon speaks only
            # the legacy protocol, so the sandbox IAM's stand-in answers that question for it
            cfg["registration"] = {"voms_aa_url": f"{self.iam_url(vo)}/generate-ac"}
        if email:
            cfg["mail"] = {"kind": "maildir", "maildir": str(self.maildir(email))}
        submit: dict[str, Any] = {
            "host": "127.0.0.1" if self.settings.bind in ("0.0.0.0", "::") else self.settings.bind,
            "port": self.ssh_port,
            "trust_host_key": self.ssh_fingerprint,
        }
        if ssh_user:
            submit["user"] = self.ssh_account(ssh_user)
        if identity_file:
            submit["identity_file"] = str(identity_file)
        cfg["submit_host"] = submit
        return cfg

    def iam_url(self, vo: str) -> str:
        return f"https://{self.settings.hostname}:{self._port('open')}/iam/{vo}"

    def _service(self, vo: str) -> dict[str, str]:
        """How a trainee registers with `vo`: VOMS-Admin, or an IAM wanting a login first (cern profile)."""
        if vo in self.settings.cern_profile_vos:
            return {"kind": "iam", "registration": "browser-login", "url": self.iam_url(vo)}
        return {"kind": "voms-admin", "url": self.registration_url(vo)}

    def config_toml(self, **kw: Any) -> str:
        return to_toml(self.onboard_config(**kw))


def to_toml(cfg: dict[str, Any], prefix: str = "") -> str:
    """Plain values first, then a [table] per dict (nested as [a.b]); `lsc` stays an inline table."""

    def inline(k: str, v: Any) -> bool:
        return not isinstance(v, dict) or k == "lsc"

    out = "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in cfg.items() if inline(k, v))
    for k, v in cfg.items():
        if inline(k, v):
            continue
        name = f"{prefix}.{toml_key(k)}" if prefix else toml_key(k)
        if not v or any(inline(kk, vv) for kk, vv in v.items()):
            out += f"\n[{name}]\n"
        out += to_toml(v, name)
    return out
