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

from onboard.errors import ConfigError, Exit, NotImplementedStep, OnboardError
from onboard.obtain import Provider


class Sandbox(Provider):
    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        return []

    def obtain(self, ctx) -> bool:
        try:
            from onboard.sandbox.ca import CAError, SandboxCA
        except ImportError:
            raise NotImplementedStep("obtain from the sandbox CA", "onboard/sandbox/ca.py is not there") from None
        from onboard import paths
        from onboard.obtain.other import _passphrase

        cfg, ui, arts = ctx.config, ctx.ui, ctx.record.artifacts
        directory = cfg.ca.sandbox_dir or (Path(os.environ["ONBOARD_SANDBOX_DIR"])
                                          if os.environ.get("ONBOARD_SANDBOX_DIR") else None)
        if directory is None:
            raise ConfigError("ca.provider is \"sandbox\" but no sandbox directory is configured.",
                              "Set ca.sandbox_dir to the directory of `onboard sandbox up` (its printed config "
                              "has it).")
        directory = Path(directory).expanduser()
        if not (directory / "ca" / "private" / "root.key").exists() and not (directory / "private" / "root.key").exists():
            raise OnboardError(f"{directory} holds no sandbox CA.",
                               "Start the sandbox first: `onboard sandbox up --dir DIR`.", exit_code=Exit.SANDBOX)
        ca_dir = directory / "ca" if (directory / "ca").is_dir() else directory
        name = cfg.user.full_name
        if not name:
            name = ui.ask("Your name, as it should appear in the certificate", key="user.given_name")
        email = cfg.user.email or ui.ask("Your e-mail address", key="user.email")
        state = arts.extra.setdefault("obtain", {})
        out = Path(state["sandbox_p12"]) if state.get("sandbox_p12") else None
        if out is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            out = paths.ensure_private_dir(paths.data_dir() / "obtained") / f"{stamp}-sandbox-Certificate.p12"
            state.update(provider="sandbox", sandbox_p12=str(out), sandbox_dir=str(directory))
            ctx.checkpoint()  # the name first: a resumed run finds the file instead of issuing twice
        if not out.exists():
            ui.explain("The sandbox plays the CA portal: in real life you log in at your CA (e.g. cm.harica.gr), "
                       "choose a password and download Certificate.p12. Here its CA makes the same kind of file.")
            passphrase = _passphrase(ctx, new=True)
            try:
                _, info = SandboxCA(ca_dir).ensure().issue_user(name, email, passphrase.encode(), out=out)
            except CAError as e:
                raise OnboardError(f"the sandbox CA refused: {e}", "Check user.given_name/family_name and e-mail.",
                                   exit_code=Exit.SANDBOX) from None
            state["issued_subject"] = info.subject
            ui.say(f"The sandbox CA issued {info.subject}; saved as {out} (readable only by you).")
        arts.p12 = out
        ctx.checkpoint()
        return True


PROVIDER = Sandbox(name="sandbox", title="onboard sandbox CA")
