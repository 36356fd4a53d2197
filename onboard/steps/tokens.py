"""The token step of an IAM journey: an oidc-agent account for the VO's token issuer and a token checked
(onboard/tokens/). On by default where the VO's catalog entry names a token_issuer; a VO without one,
or with `token_issuer = ""` in its [vos.<vo>] configuration, passes the step saying so. A device login
not approved yet is a wait: `onboard resume` looks again (oidc-gen keeps polling in the background).
"""

from __future__ import annotations

from onboard.steps.context import StepContext


def run(ctx: StepContext) -> None:
    from onboard import catalog
    from onboard.tokens import flow

    entry = catalog.lookup(ctx.vo, ctx.config)
    if entry is None or not entry.token_issuer:
        ctx.ui.say(f"    {ctx.vo} names no token issuer: no WLCG token account made")
        return

    def password() -> str:
        return ctx.secrets.get(
            "oidc_password",
            key="--password-file of `onboard tokens`",
            prompt=f"Password to encrypt the oidc-agent account {ctx.vo} with",
        )

    claims = flow.obtain(ctx.config, entry, ctx.ui, account=ctx.vo, wait=0, password=password)
    ctx.record.artifacts.extra["token_subject"] = str(claims.get("sub", ""))
    ctx.ui.say(
        f"    oidc-agent account {ctx.vo}: a token for {', '.join(claims.get('wlcg.groups', []))} "
        f"from {entry.token_issuer}"
    )
