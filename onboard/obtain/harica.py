"""GÉANT TCS through HARICA (cm.harica.gr), the fifth TCS generation, since January 2025.

Flow as the institutions' guides describe it (INFN Padova, Swestore, DESY): Academic Login, the product
"IGTF Client Auth" → "GÉANT Personal Authentication", an e-mail to verify the address, then "Enroll your
certificate": the key is made in the browser and the download is a password-protected Certificate.p12.
"""

from __future__ import annotations

from onboard.obtain import Provider

PORTAL = "https://cm.harica.gr"


class Harica(Provider):
    def portal(self, cfg, ctx=None) -> str:
        return cfg.ca.portal_url or PORTAL

    def intro(self, cfg) -> list[str]:
        return [
            "Your personal grid certificate comes from GÉANT's Trusted Certificate Service, run by HARICA. "
            "You log in with your institution's account; that is how HARICA knows who you are.",
            "Your institution must allow it: its login service releases your eduPersonPrincipalName and the "
            "entitlement urn:mace:terena.org:tcs:personal-user. If HARICA says you are not entitled, paste "
            "its message into `onboard explain \"...\"`.",
        ]

    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        return [
            f"Open {portal} and choose \"Academic Login\". Pick your institution and log in with your usual "
            "institutional account.",
            "Request a new certificate: choose \"IGTF Client Auth\", then the product \"GÉANT Personal "
            "Authentication\" (not the \"Automated\" one). This is the product grid services accept.",
            "Check that your name and e-mail are right, accept the terms of use and submit the request.",
            "HARICA sends you an e-mail to verify your address. Open the link in it.",
            "Back on the HARICA dashboard, click \"Enroll your certificate\". The key is made in your "
            "browser; set a strong password of at least 12 characters (a few words make a good one) and keep "
            "it in your password manager. onboard will ask for it once and never stores it.",
            f"Download the certificate: a password-protected file, usually Certificate.p12. Save it in "
            f"{download_dir}. onboard notices it there by itself and moves it somewhere only you can read.",
        ]


PROVIDER = Harica(name="harica", title="GÉANT TCS via HARICA", download_names=("Certificate.p12",))
