"""GÉANT TCS through Sectigo Certificate Manager (2020–2024), for those who still hold such certificates.

The portal address depends on the country's NREN: https://cert-manager.com/customer/<nren>/idp/clientgeant.
The product for grid use is "GÉANT IGTF-MICS Personal", with "Generate RSA" and a passphrase of at least
12 characters; the download is certs.p12 (the GÉANT TCS guide).
"""

from __future__ import annotations

from onboard.errors import ConfigError
from onboard.obtain import Provider

TEMPLATE = "https://cert-manager.com/customer/{nren}/idp/clientgeant"
KNOWN_NRENS = {"surfnet": "Netherlands", "renater": "France", "cesnet": "Czech Republic", "grnet": "Greece",
               "dfn": "Germany", "sunet": "Sweden", "garr": "Italy", "switch": "Switzerland"}


class Sectigo(Provider):
    def portal(self, cfg, ctx=None) -> str:
        if cfg.ca.portal_url:
            return cfg.ca.portal_url
        if ctx is not None and ctx.ui.interactive:
            nren = ctx.ui.ask("Your NREN's name in the Sectigo portal address (e.g. surfnet, renater, "
                              "cesnet)",
                              key="ca.portal_url").strip().lower()
            if nren.isalnum():
                return TEMPLATE.format(nren=nren)
        raise ConfigError("the Sectigo portal address depends on your country's research network (NREN).",
                          "Set config key ca.portal_url, e.g. " + TEMPLATE.format(nren="surfnet")
                          + " (NL); renater (FR), cesnet (CZ) likewise.")

    def intro(self, cfg) -> list[str]:
        return [
            "GÉANT TCS issued certificates through Sectigo until January 2025; it now uses HARICA "
            "(ca.provider = \"harica\"). A Sectigo certificate you hold stays valid until it expires: if you "
            "saved certs.p12, give it with --p12 certs.p12 and skip the portal.",
            "If your NREN's Sectigo portal still issues for you, follow the steps below.",
        ]

    def steps(self, cfg, portal: str, download_dir: str) -> list[str]:
        return [
            f"Open {portal}. In the Organisation Discovery service type (part of) your organisation's name "
            "and log in with your usual institutional account; let it send your name, e-mail and "
            "entitlement.",
            "In the Digital Certificate Enrollment form choose the product \"GÉANT IGTF-MICS Personal\" — "
            "the one grid services accept.",
            "Under \"Private Key\" choose \"Generate RSA\" (unless you are an expert: really).",
            "Type a strong passphrase of at least 12 characters, twice. Keep it in a password manager: you "
            "need it for the browser, for the grid tools, and once for onboard.",
            "Accept the EULA and submit. If you see \"enrollment request failed\", paste it into "
            "`onboard explain`: you may already have two certificates.",
            f"Save the file (certs.p12) in {download_dir}. onboard notices it there by itself and moves it "
            "somewhere only you can read.",
        ]


PROVIDER = Sectigo(name="sectigo", title="GÉANT TCS via Sectigo", download_names=("certs.p12",))
