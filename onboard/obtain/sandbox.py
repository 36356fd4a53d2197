"""The onboard sandbox CA: hands out a password-protected PKCS#12 the way a CA portal does.

In an orientation session or `onboard demo` the sandbox plays the CA portal: instead of logging in at
cm.harica.gr and downloading Certificate.p12, the sandbox's CA (onboard.sandbox.ca) issues the personal
certificate with a key made on its side, packed in a PKCS#12 under the user's passphrase, written
straight into onboard's own directory (0600, O_EXCL). The file name is recorded before it is made, so an
interrupted run finds it instead of asking for a second certificate.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from onboard.atomicfile import write_new
from onboard.errors import ConfigError, Exit, OnboardError
from onboard.obtain import Provider


class Sandbox(Provider):
    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        return []

    def obtain(self, ctx) -> bool:
        from onboard import paths
        from onboard.obtain.other import _passphrase
        from onboard.sandbox.ca import CAError, SandboxCA

        cfg, ui, arts = ctx.config, ctx.ui, ctx.record.artifacts
        directory = cfg.ca.sandbox_dir or (Path(os.environ["ONBOARD_SANDBOX_DIR"])
                                          if os.environ.get("ONBOARD_SANDBOX_DIR") else None)
        remote = cfg.ca.portal_url if directory is None else ""
        if directory is None and not remote:
            raise ConfigError("ca.provider is \"sandbox\" but no sandbox directory is configured.",
                              "Set ca.sandbox_dir to the directory of `onboard sandbox up` (its printed "
                              "config has it), or join a sandbox with `onboard sandbox join`.")
        ca_dir = None
        if directory is not None:
            directory = Path(directory).expanduser()
            ca_dir = directory / "ca" if (directory / "ca").is_dir() else directory
            if not (ca_dir / "private" / "root.key").exists():
                raise OnboardError(f"{directory} holds no sandbox CA.",
                                   "Start the sandbox first: `onboard sandbox up --dir DIR`.",
                                   exit_code=Exit.SANDBOX)
        name = cfg.user.full_name
        if not name:
            name = ui.ask("Your name, as it should appear in the certificate", key="user.given_name")
        email = cfg.user.email or ui.ask("Your e-mail address", key="user.email")
        state = arts.extra.setdefault("obtain", {})
        out = Path(state["sandbox_p12"]) if state.get("sandbox_p12") else None
        if out is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            out = paths.ensure_private_dir(paths.data_dir() / "obtained") / f"{stamp}-sandbox-Certificate.p12"
            state.update(provider="sandbox", sandbox_p12=str(out), sandbox=str(directory or remote))
            ctx.checkpoint()  # the name first: a resumed run finds the file instead of issuing twice
        _part(out).unlink(missing_ok=True)  # a run killed while writing left only this (ours, by its name)
        if not out.exists():
            ui.explain("The sandbox plays the CA portal: in real life you log in at your CA (e.g. "
                       "cm.harica.gr), choose a password and download Certificate.p12. Here its CA makes the "
                       "same kind of file.")
            passphrase = _passphrase(ctx, new=True)
            if ca_dir is not None:
                try:
                    data, info = SandboxCA(ca_dir).ensure().issue_user(name, email, passphrase.encode())
                except CAError as e:
                    raise OnboardError(f"the sandbox CA refused: {e}", "Check user.given_name/family_name "
                                                                       "and "
                                       "e-mail.", exit_code=Exit.SANDBOX) from None
                _write_whole(out, data)
                state["issued_subject"] = info.subject
                ui.say(f"The sandbox CA issued {info.subject}; saved as {out} (readable only by you).")
            else:
                _write_whole(out, _fetch(ctx, remote, name, email, passphrase))
                ui.say(f"The sandbox portal at {remote} issued your certificate; saved as {out} (readable "
                       "only by you).")
        arts.p12 = out
        ctx.checkpoint()
        return True


def _part(out: Path) -> Path:
    return out.with_name(f".{out.name}.part")


def _write_whole(out: Path, data: bytes) -> None:
    """`out` appears whole or not at all: written (0600 from the first byte, O_EXCL) under a temporary
    name, then linked into place. Killed halfway, a run leaves no empty or cut .p12 under the recorded
    name (which the next run would take for the certificate), only the temporary file it then removes."""
    part = _part(out)
    write_new(part, data, 0o600)
    try:
        os.link(part, out)  # never over an existing file
    finally:
        part.unlink(missing_ok=True)
    fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fetch(ctx, portal: str, name: str, email: str, passphrase: str) -> bytes:
    """POST to the sandbox portal over TLS verified against the trust directory (the sandbox CA, installed
    by `onboard sandbox join`)."""
    import http.client
    import json
    import ssl
    from urllib.parse import urlsplit

    from onboard.pki import trustdirs

    where = trustdirs.find(trustdirs.configured(ctx.config))
    if where is None:
        raise OnboardError("no trust directory holds the sandbox CA.",
                           "Run `onboard sandbox join` (it installs the sandbox's trust anchor).",
                           exit_code=Exit.TRUST)
    tls = ssl.create_default_context(capath=str(where.path))
    parts = urlsplit(portal)
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, context=tls,
                                       timeout=ctx.config.registration.timeout_seconds)
    body = json.dumps({"name": name, "email": email, "passphrase": passphrase}).encode()
    try:
        from onboard.sandbox.seats import headers_for

        conn.request("POST", parts.path.rstrip("/") + "/issue", body=body,
                     headers={"Content-Type": "application/json",
                              **headers_for(ctx.config.ca.seat_token_file)})
        resp = conn.getresponse()
        data = resp.read(1 << 20)
    except ssl.SSLError as e:
        raise OnboardError(f"the sandbox portal's certificate is not trusted ({e.reason}).",
                           "Run `onboard sandbox join` again with the instructor's fingerprint.",
                           exit_code=Exit.TLS) from None
    except (OSError, http.client.HTTPException) as e:
        raise OnboardError(f"cannot reach the sandbox portal {portal}: {e}.",
                           "Check that the sandbox is running (`onboard sandbox status` on the instructor's "
                           "side).",
                           exit_code=Exit.NETWORK) from None
    finally:
        conn.close()
    if resp.status != 200:
        try:
            answer = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested past the stack
            answer = None
        why = (answer.get("error") if isinstance(answer, dict) else None) or f"HTTP {resp.status}"
        raise OnboardError(f"the sandbox portal refused: {why}.", "Check user.given_name and user.email.",
                           exit_code=Exit.SANDBOX)
    return data


PROVIDER = Sandbox(name="sandbox", title="onboard sandbox CA")
