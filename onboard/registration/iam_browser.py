"""INDIGO IAM that registers only people who logged in first (CERN's instances, the `cern` profile): a
registrar that guides (Mode.GUIDES) instead of submitting.

Upstream (indigo-iam/iam): with the `cern` profile, `CernHrDbRequestValidatorService` refuses a request
without an external (OIDC/SAML) login, and `RegistrationApiController` answers an anonymous
`POST /registration/create` with HTTP 400 `{"error": "User is not authenticated"}`; the request is made by
the registration page after the CERN SSO login, which also fills name and e-mail from CERN's HR record.
After approval the person links the certificate from a logged-in session: `POST
/iam/account-linking/X509` links the certificate the browser presented when that session logged in.

So onboard never sends the request. It opens each page in the browser (or prints it without a display),
shows one step at a time, and notices each step by a public signal where one exists:

1. the CERN account and the login, 2. the form: `GET registration/email-available/<address>` answers
   false once IAM knows the address (anonymous, read-only);
3. the mail: found in the mailbox, its link opened in the browser (onboard cannot see the click);
4. the approval: IAM's "account is now active" mail, or the VOMS-AA once the certificate is linked;
5. the certificate in the browser and linked once: the VOMS attribute authority answers for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from onboard import catalog
from onboard.adapters import desktop
from onboard.errors import Exit, RegistrationError
from onboard.registration import approval, flow, iam
from onboard.registration.registrar import Mode
from onboard.registration.voms_admin import FormError

if TYPE_CHECKING:
    from onboard.registration.flow import Scan
    from onboard.steps.context import StepContext

STEPS = 5
# which browsers present a client certificate to IAM reliably (what the person is told at step 5)
BROWSERS = (
    "Firefox presents it reliably (it asks which certificate; `onboard browser-import` fills its store); "
    "Chrome and Chromium on Linux present the one in ~/.pki/nssdb (also filled by `onboard browser-import`) "
    "after their selection dialog; Safari, private windows and networks that inspect TLS often present "
    "none, and IAM then says \"No X.509 credential found in session\"."
)


def _step(ctx: StepContext, n: int, title: str, *lines: str) -> None:
    ctx.ui.say(f"Step {n} of {STEPS} — {title}")
    for line in lines:
        ctx.ui.say(f"  {line}")


def _open(ctx: StepContext, url: str) -> str:
    """Hand `url` to the person's browser when there is a display; how the step names it either way."""
    if desktop.open_page(url, allowed=ctx.config.ca.open_browser):
        return f"{url} (opened in your browser)"
    return f"{url} (open it in a browser with a display)"


class IamBrowserRegistrar(iam.IamRegistrar):
    """IAM with a login first: the person registers, confirms and links in a browser; onboard watches."""

    kind = catalog.GUIDED_KIND
    mode = Mode.GUIDES

    # -- 1, 2: the login and the form ---------------------------------------------------------------
    def register(self, ctx: StepContext, url: str) -> None:
        extra = flow.extra(ctx)
        base = iam.base_url(url)
        host = urlsplit(base).hostname or base
        email = ctx.config.user.email
        if not email:
            raise FormError("onboard needs your e-mail address to notice your IAM registration.",
                            "Set user.email to the address CERN's HR record has for you.")
        # read-only and anonymous: no key is unlocked, nothing is sent but the question
        http = flow.http(ctx, base, with_cert=False, system_roots=self.system_roots)
        if self._known(http, base, "email", email):
            flow.mark(ctx, "submitted")
            # the mails count from when the steps were first shown (the person may be slower than onboard)
            if "guide_started_at" in extra:
                extra["submitted_at"] = extra["guide_started_at"]
            else:
                extra.pop("submitted_at", None)
            extra["registration_seen"] = "email-available"
            ctx.checkpoint()
            ctx.ui.say(f"{host} knows {email}: your registration request is there.")
            return
        if "guide_started_at" not in extra:
            extra["guide_started_at"] = ctx.now().isoformat()
            self._show_register_steps(ctx, base, email)
            ctx.checkpoint()
        else:
            ctx.ui.say(f"{host} does not know {email} yet (the registration form is not sent).")
            name = ctx.config.registration.username
            if name and self._known(http, base, "username", name):
                ctx.ui.say(f"The username {name} is taken at {host}: by you, if CERN has another e-mail "
                           "address for you (then set user.email to it), else choose another one.")
        raise ctx.wait(
            f"your registration in the browser at {host} (onboard notices it once IAM knows {email})",
            after_seconds=ctx.backoff(),
            hint="Log in and send the form as shown above; `onboard resume` looks again.",
        )

    def _known(self, http, base: str, what: str, value: str) -> bool:
        """IAM's registration/<what>-available/<value> answering false: IAM has an account with it."""
        resp = http.get(f"{base}/registration/{what}-available/{quote(value, safe='@')}",
                        headers={"Accept": "application/json"})
        answer = resp.text.strip().lower() if resp.status_code == 200 else ""
        if answer not in ("true", "false"):  # IAM answers a JSON boolean; anything else is another page
            raise RegistrationError(
                f"{urlsplit(base).hostname} answered registration/{what}-available with "
                f"HTTP {resp.status_code} and not true or false.",
                "Is vos.<vo>.url the IAM base URL (https://host)? `onboard resume` asks again.",
                exit_code=Exit.SERVER,
            )
        return answer == "false"

    def _show_register_steps(self, ctx: StepContext, base: str, email: str) -> None:
        entry = catalog.lookup(ctx.vo, ctx.config)
        needs = entry.requirements if entry is not None and entry.requirements else (
            "An account with the identity provider the VO's IAM accepts.")
        _step(ctx, 1, "your account, and the login",
              f"Open {_open(ctx, base + '/start-registration')}",
              "and log in with the single sign-on it offers (CERN SSO for the LHC VOs).",
              f"You need: {needs}")
        _step(ctx, 2, "the registration form",
              "After the login IAM shows its form, with your name and e-mail from the identity provider "
              "(CERN's HR record).",
              "Choose a username (lower case letters, digits and _ . - @) and send the form.",
              f"onboard notices the request by itself once IAM knows {email} (if CERN has another "
              "address for you, set user.email to it).")
        ctx.ui.explain("onboard never sends this registration itself: IAM takes it only from a logged-in "
                       "browser (an anonymous request is refused).")

    # -- 3: the mail ---------------------------------------------------------------------------------
    def confirm(self, ctx: StepContext, url: str) -> None:
        """Show the confirmation link (checked: our server, IAM's path) and open it in the browser; the
        click happens there, so nothing is recorded as confirmed."""
        link = self.check_link(url, flow.server_url(ctx))
        self._show_mail_step(ctx, _open(ctx, link.url))

    def confirmed_elsewhere(self, ctx: StepContext) -> bool:
        """Without a mailbox nothing shows the mail: say what to do and go on to the approval."""
        if flow.mailbox(ctx) is not None:
            return False
        self._show_mail_step(ctx, "the link in the mail '[<VO> IAM] Confirm your ... registration request'")
        return True

    def _show_mail_step(self, ctx: StepContext, where: str) -> None:
        extra = flow.extra(ctx)
        _step(ctx, 3, "the mail",
              f"Open {where}",
              "and press its button to confirm the request.")
        ctx.ui.explain("onboard cannot see that click (IAM has no public page for it); the approval mail, "
                       "or the VOMS attribute authority at the end, shows that it happened.")
        extra["mail_step_shown"] = True
        ctx.checkpoint()

    def confirm_hint(self, has_mailbox: bool) -> str:
        return "Check the spam folder too; `onboard confirm URL` takes the link by hand (onboard opens it " \
               "in your browser)."

    # -- 4: the approval -----------------------------------------------------------------------------
    def check_approval(self, ctx: StepContext, scan: Scan | None) -> approval.Verdict:
        extra = flow.extra(ctx)
        if not extra.get("approval_step_shown"):
            _step(ctx, 4, "the approval",
                  f"The administrators of VO {ctx.vo} decide (at CERN after checking your HR record); "
                  "IAM mails you either way.")
            extra["approval_step_shown"] = True
        return super().check_approval(ctx, scan)

    def approval_hint(self) -> str:
        return ("This can take days; onboard notices IAM's mail by itself (`onboard resume`, or "
                "`onboard resume --wait`).")

    # -- 5: the certificate, linked once -------------------------------------------------------------
    def explain_linking(self, ctx: StepContext) -> None:
        extra = flow.extra(ctx)
        if extra.get("explained_linking"):
            return
        base = iam.base_url(flow.server_url(ctx))
        _step(ctx, 5, "your certificate in the browser, linked once to your account",
              "a. Put the certificate into your browser: `onboard browser-import`.",
              f"   {BROWSERS}",
              f"b. Restart the browser and log in again at {_open(ctx, base + '/login')} (IAM keeps the "
              "certificate the browser presented at the login: a session from before the import has none).",
              "c. On your dashboard, under 'X.509 certificates', press 'Link certificate': IAM links the "
              "certificate this browser presented.")
        ctx.ui.explain("onboard notices it by itself once the VOMS attribute authority answers for your "
                       "certificate.")
        extra["explained_linking"] = True


REGISTRAR = IamBrowserRegistrar()
