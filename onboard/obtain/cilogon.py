"""CILogon: its X.509 user certificates are retired (https://ca.cilogon.org/retirement).

/getcert was disabled after June 2023; "Create Password-Protected Certificate" ended in May 2025; the
CILogon Basic and Silver CAs leave the IGTF distribution. A usercred.p12 still held works until it expires.
"""

from __future__ import annotations

from onboard.errors import Exit, OnboardError
from onboard.obtain import Provider


class CILogon(Provider):
    def check(self, ctx) -> None:
        raise OnboardError(
            "CILogon no longer issues user certificates: its X.509 service was retired (password-protected "
            "certificates ended in May 2025).",
            "A usercred.p12 you still hold works until it expires: `onboard resume --p12 usercred.p12`. "
            "Otherwise get one from your institution's IGTF CA: in Europe GÉANT TCS via HARICA "
            "(ca.provider = \"harica\"), elsewhere the CA your VO names (ca.provider = \"other\").",
            exit_code=Exit.CA)

    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        return []


PROVIDER = CILogon(name="cilogon", title="CILogon (retired)", download_names=("usercred.p12",))
