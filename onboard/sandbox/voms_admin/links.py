"""The addresses a sandbox VO publishes: the e-mail links, its vomses line and LSC.

E-mail links: VOMS-Admin builds them as https://<voms.hostname>:8443/voms/<vo>/... whatever port the
container listens on. The sandbox names `settings.link_port` if set, else the port it really listens on,
so with the default port base (8443) the links are exactly the real ones and they work; with
`link_port=8443` and another port they reproduce the real server's mismatch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App, Request


def base_url(ctx: SandboxContext, vo: str, app: App | None = None) -> str:
    port = ctx.settings.link_port or (app.ports.get("voms") if app else None) or ctx.settings.port_for("voms")
    return f"https://{ctx.settings.hostname}:{port}/voms/{vo}"


def request_url(ctx: SandboxContext, op: str, row: Any, app: App | None = None) -> str:
    return (
        f"{base_url(ctx, row['vo'], app)}/register/{op}-request.action?requestId={row['request_id']}"
        f"&confirmationId={row['confirm_id']}"
    )


def vomses_line(ctx: SandboxContext, vo: str) -> str:
    host = ctx.settings.hostname
    return f'"{vo}" "{host}" "{ctx.settings.voms_port(vo)}" "{ctx.ca.voms_dn([host])}" "{vo}"'


def lsc(ctx: SandboxContext, vo: str) -> list[str]:
    return [ctx.ca.voms_dn([ctx.settings.hostname]), ctx.ca.root_dn]


def vo_of(req: Request) -> str:
    return req.path.split("/")[2]
