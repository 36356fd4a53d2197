"""`onboard explain "<message>"`: what a CA portal's or a grid tool's error message means, and whom to ask.

The messages are the real ones: the GÉANT TCS guide's portal errors, and the credential errors of
OpenSSL, GCT (grid-proxy-init), both voms-proxy-inits, macOS Keychain and the OSG tools
(reference/credentials.md §6), plus the VOMS-Admin pages onboard meets and the VOMS servers' refusals of
a lapsed membership (onboard/delivery/lapse_messages.py). Paste the message as it came,
or pipe it in (`... 2>&1 | onboard explain -`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass

HELPDESK = "your institution's IT helpdesk"
RAO = "your institution's TCS registration authority officer (RAO), through the IT helpdesk"
IDP = "your institution's identity provider (login service) team, through the IT helpdesk"
YOU = "no one: you can fix it yourself (onboard tells you how)"
VO_ADMIN = "the VO's administrators (the contact on the VO's registration page)"


@dataclass(frozen=True)
class Known:
    key: str
    pattern: str  # a regular expression, case-insensitive, searched in the pasted text
    title: str
    meaning: str
    todo: str
    whom: str
    source: str

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE | re.DOTALL) is not None


KNOWN: list[Known] = [
    # --- the GÉANT TCS guide: errors of the CA portal ------------------------------------------------
    Known("tcs-schac",
          r"organi[sz]ation with schacHomeOrganization\s*(\S+)?\s*was not found",
          "the CA portal does not know your organisation",
          "Either you started at the wrong portal address (another country's research network), or your "
          "organisation has not set up self-enrolment: the portal looks your organisation up by the "
          "schacHomeOrganization your login sends, and finds nothing.",
          "Check the address: each NREN has its own (e.g. .../customer/surfnet/idp/clientgeant for the "
          "Netherlands, renater for France, cesnet for Czechia); set it as config ca.portal_url. If it is "
          "right, your RAO must enter your domain under Settings > Organisations > \"Academic code (SCHAC "
          "Home Organization)\", and your login service must release schacHomeOrganization to the CA.",
          RAO, "GÉANT TCS guide, \"In case of errors\""),
    Known("tcs-entitlement",
          r"(you are|your are|you're) not entitled to use this service|not entitled",
          "your institution's login did not say you may use the certificate service",
          "The portal needs an entitlement from your institution's login service, and it did not come. "
          "If you are staff (or your identity was checked, e.g. by student services) this is most likely "
          "a configuration mistake at your institution.",
          "Ask your identity provider to also send \"urn:mace:terena.org:tcs:personal-user\" as your "
          "eduPersonEntitlement (and your eduPersonPrincipalName), then log in to the portal again.",
          IDP, "GÉANT TCS guide, \"In case of errors\""),
    Known("tcs-limit",
          r"enrol+ment request failed|cannot generate more certificates",
          "you already have the most certificates of this product the CA allows",
          "For each certificate product you can hold at most two valid certificates at a time; the portal "
          "refuses a third.",
          "If one of your certificates is on this computer and still valid, use it (`onboard start --p12 "
          "FILE`). Otherwise ask your RAO, through the helpdesk, to revoke the old ones of this product; "
          "then request again.",
          RAO, "GÉANT TCS guide, \"In case of errors\""),
    Known("sectigo-revoke-oldest",
          r"oldest might silently get revoked|maximum issued limit",
          "requesting another certificate may revoke your oldest one",
          "The CA keeps a maximum number of valid certificates per person; a new one can silently revoke "
          "the oldest.",
          "Before requesting a new certificate, check which ones you still use (browsers, ~/.globus, submit "
          "hosts); renew deliberately.",
          HELPDESK, "Sectigo (Swestore documentation)"),
    # --- OpenSSL and PKCS#12 -------------------------------------------------------------------------
    Known("openssl-legacy-rc2",
          r"RC2-40-CBC|inner_evp_generic_fetch:unsupported|error:0308010C",
          "OpenSSL 3 cannot read an old-style (RC2-40) .p12 without -legacy",
          "The file is encrypted the old way (Sectigo, browsers, OpenSSL 1.x exports). OpenSSL 3 disabled "
          "that algorithm by default; the password is probably right.",
          "Let onboard convert it: `onboard convert FILE.p12` reads old and new files alike and writes PEM "
          "files and a .p12 every tool accepts. (By hand: openssl pkcs12 -legacy ...)",
          YOU, "OpenSSL 3"),
    Known("openssl-no-legacy-provider",
          r"unable to load provider legacy",
          "your OpenSSL has no 'legacy' module",
          "-legacy needs the legacy provider, which some systems ship separately (Debian: "
          "openssl-provider-legacy) or not at all (conda, self-built OpenSSL).",
          "Use `onboard convert FILE.p12`, which needs no provider; or install the module.",
          YOU, "OpenSSL 3"),
    Known("libressl-legacy",
          r"Unrecognized flag legacy",
          "your openssl is LibreSSL (macOS), which has no -legacy flag",
          "LibreSSL reads old .p12 files without the flag.",
          "Leave out -legacy, or use `onboard convert FILE.p12`.",
          YOU, "LibreSSL (macOS)"),
    Known("gct-p12",
          r"Couldn't read in PKCS12 credential from file",
          "grid-proxy-init cannot read your usercred.p12",
          "With OpenSSL 3 (EL9 and newer) the Globus tools cannot open an old-style RC2-40 usercred.p12.",
          "Use PEM files instead: `onboard convert usercred.p12` writes ~/.globus/usercert.pem and "
          "userkey.pem, which grid-proxy-init prefers.",
          YOU, "grid-proxy-init (GCT) on OpenSSL 3"),
    Known("macos-mac-verify",
          r"SecKeychainItemImport|MAC verification failed during PKCS12 import",
          "macOS Keychain cannot read a .p12 made by OpenSSL 3",
          "Keychain only reads .p12 files encrypted the older way (3DES, SHA-1 MAC); OpenSSL 3's default "
          "(AES-256) looks to it like a wrong password.",
          "Import the package-*.p12 that onboard made (it is encrypted so Keychain reads it).",
          YOU, "macOS security tool"),
    Known("macos-invalid-password",
          r"Sorry, you entered an invalid password",
          "macOS Keychain refused the .p12 (often not the password's fault)",
          "Keychain does not read .p12 files with AES/SHA-256 encryption and says the password is wrong.",
          "Import onboard's package-*.p12 instead, with the same password.",
          YOU, "macOS Keychain Access"),
    Known("apple-25293",
          r"-25293|user name or passphrase you entered is not correct",
          "Apple's import rejected the .p12",
          "An AES-encrypted .p12 (OpenSSL 3's default) reads as a wrong passphrase on macOS and iOS.",
          "Use onboard's package-*.p12 (3DES, SHA-1 MAC).",
          YOU, "macOS/iOS Security framework"),
    Known("openssl-mac-verify",
          r"Mac verify error",
          "wrong password for the .p12",
          "OpenSSL checked the file's integrity code with the password given, and it does not match.",
          "Type the password you set at the CA portal (or when the file was exported). If it is lost, the "
          "certificate cannot be used: request a new one.",
          YOU, "openssl pkcs12"),
    Known("openssl-bad-decrypt",
          r"bad decrypt|maybe wrong password|PASSPHRASE INCORRECT",
          "wrong password (or an old-style file)",
          "Decryption failed: most often a wrong password; with OpenSSL 3 and an old .p12 it can also be "
          "the missing legacy algorithm.",
          "Try `onboard convert FILE`, which tells the two apart.",
          YOU, "openssl pkcs12 / tcsg4-install-credential.sh"),
    Known("openssl-pem-key",
          r"Could not read key from",
          "wrong passphrase for the PEM key",
          "OpenSSL could not decrypt userkey.pem with the passphrase given.",
          "Use the key's passphrase (the one chosen at conversion, by default the CA portal's).",
          YOU, "openssl pkey"),
    # --- grid tools: passphrases ---------------------------------------------------------------------
    Known("gct-bad-passphrase",
          r"Bad passphrase for key",
          "wrong passphrase for your grid key (grid-proxy-init)",
          "The Globus tools could not decrypt userkey.pem.",
          "Type the key's passphrase; if it is lost, convert the .p12 again with `onboard convert`.",
          YOU, "grid-proxy-init (GCT)"),
    Known("voms-wrong-passphrase",
          r"wrong pass ?phrase|proxy_init_cred",
          "wrong passphrase for your grid key (voms-proxy-init)",
          "voms-proxy-init could not decrypt userkey.pem.",
          "Type the key's passphrase again.",
          YOU, "voms-proxy-init (C++)"),
    Known("voms-java-passphrase",
          r"Error decrypting private key|please check password and data|EncryptionException",
          "wrong passphrase for your grid key (Java voms-proxy-init)",
          "The Java voms-proxy-init could not decrypt the key (or the file is damaged).",
          "Type the key's passphrase again; `onboard doctor` checks the files.",
          YOU, "voms-proxy-init (Java)"),
    # --- grid tools: permissions and files -----------------------------------------------------------
    Known("gct-key-perms",
          r"too permissive.*Maximum allowable permissions are 600|Maximum allowable permissions are 600",
          "your key file can be read by others",
          "The Globus tools refuse a private key that group or others may read.",
          "chmod 600 ~/.globus/userkey.pem (onboard writes it 0600 from the start; `onboard doctor` checks).",
          YOU, "Globus GSI (grid-proxy-init, voms-proxy-init)"),
    Known("gct-cert-perms",
          r"Maximum allowable permissions are 644",
          "your certificate file is writable by others",
          "The Globus tools refuse a certificate that others may change.",
          "chmod 644 ~/.globus/usercert.pem.",
          YOU, "Globus GSI"),
    Known("gct-owner",
          r"is not owned by current user",
          "your credential files belong to another user",
          "The files were copied as root or with sudo.",
          "sudo chown $USER ~/.globus/usercert.pem ~/.globus/userkey.pem (or convert again as yourself).",
          YOU, "Globus GSI"),
    Known("voms-no-valid-credentials",
          r"Couldn't find valid credentials to generate a proxy",
          "voms-proxy-init found no usable certificate and key",
          "Usually the key's permissions (not exactly 0600/0400) or missing files; --debug says which.",
          "chmod 600 ~/.globus/userkey.pem; run `onboard doctor`.",
          YOU, "voms-proxy-init (C++)"),
    Known("voms-key-fs-perms",
          r"bad file system permissions on private key",
          "your key file can be read or written by others",
          "voms-proxy-init refuses a key with group or other permissions.",
          "chmod 600 ~/.globus/userkey.pem.",
          YOU, "voms-proxy-init (C++)"),
    Known("voms-java-key-perms",
          r"Wrong file permissions on file .*Required permissions are: 400",
          "the Java voms-proxy-init wants the key at exactly 400 or 600",
          "The Java client checks the mode exactly.",
          "chmod 600 ~/.globus/userkey.pem.",
          YOU, "voms-proxy-init (Java)"),
    Known("voms-java-p12-perms",
          r"Wrong file permissions on file .*Expected: 600",
          "the Java voms-proxy-init wants usercred.p12 at exactly 600",
          "The Java client checks the mode exactly; 0400 or 0640 is refused.",
          "chmod 600 ~/.globus/usercred.p12.",
          YOU, "voms-proxy-init (Java)"),
    Known("no-credentials",
          r"Unable to find user certificate or key|No credentials found|user key could not be found",
          "no certificate and key where the grid tools look",
          "The tools look for ~/.globus/usercert.pem and userkey.pem (or X509_USER_CERT/X509_USER_KEY).",
          "Run `onboard convert FILE.p12` (or finish the journey: `onboard resume`).",
          YOU, "voms-proxy-init / grid-proxy-init"),
    Known("vomses-missing",
          r"Cannot find file or dir",
          "voms-proxy-init cannot find the vomses file (not your key!)",
          "The VO's server list (vomses) is missing from ~/.glite/vomses, /etc/vomses or the path given.",
          "`onboard vos VO` shows the VO's vomses line; the journey's verify step installs it.",
          YOU, "voms-proxy-init (C++)"),
    Known("trust-anchors-missing",
          r"Invalid trust anchors location|unable to access trusted certificates|trusted certificates "
          r"directory could not be found|Couldn't find a valid trusted certificate directory",
          "the grid trust anchors (CA certificates) are not installed",
          "The IGTF CA bundle is missing, or X509_CERT_DIR points somewhere else.",
          "Run `onboard trust`: it finds the directory in use, says how to install the IGTF distribution on "
          "your system, or installs it from a tarball.",
          "your site's system administrator (for /etc/grid-security/certificates)", "voms-proxy-init / "
                                                                                    "grid-proxy-init"),
    Known("lsc-missing",
          r"Invalid vomsdir location|LSC validation failed|LSC file matching VOMS attributes not found|"
          r"no valid VOMS server credential found",
          "the VO's LSC file is missing, so the VOMS answer cannot be checked",
          "voms-proxy-init checks the VO's attributes against vomsdir/<vo>/<host>.lsc, which is not there.",
          "`onboard vos VO` shows the LSC lines; put them in ~/.voms/vomsdir/<vo>/<host>.lsc (or "
          "/etc/grid-security/vomsdir); the journey's verify step does it.",
          YOU, "voms-proxy-init"),
    Known("key-cert-mismatch",
          r"error:400003F5|processing key",
          "the key does not belong to the certificate",
          "-cert names one identity while the default userkey.pem belongs to another.",
          "Give the matching -key too, or make usercert.pem and userkey.pem a pair again (`onboard doctor`).",
          YOU, "voms-proxy-init (C++)"),
    Known("rucio-proxy-mode",
          r"permissions are liberal \(required: 400",
          "Rucio wants the proxy at 0400; voms-proxy-init writes 0600",
          "The two tools disagree on the proxy file's mode.",
          "chmod 400 the proxy after voms-proxy-init (or upgrade Rucio).",
          YOU, "Rucio"),
    Known("expired",
          r"proxy or user certificate are expired|certificate (has )?expired",
          "a certificate in the chain has expired",
          "Your certificate, or an old CA certificate inside usercred.p12, is past its end date.",
          "`onboard doctor` shows which; convert again with `onboard convert` (it drops stale CA "
          "certificates) or renew the certificate at the CA.",
          YOU, "voms-proxy-init (OSG)"),
    Known("weak-password",
          r"Password is too weak",
          "the password is too short or too simple",
          "Passwords must be longer than 12 characters, without easy or repeating sequences.",
          "Choose a longer password: a few unrelated words.",
          YOU, "OSG certificate renewal"),
    Known("osg-requested",
          r"Certificate request is in Requested state",
          "the certificate request is not approved yet",
          "The registration authority has to approve the request before it can be retrieved.",
          "Wait for the approval e-mail, or ask the RA named in your request.",
          "the registration authority (RA) that handles your request", "OSG osg-cert-retrieve"),
    Known("sectigo-legacy-roots",
          r"AAA Certificate Services|AddTrust External CA Root",
          "your .p12 carries old Sectigo root certificates",
          "Sectigo packed legacy roots and cross-signatures into the download; keychains and some tools "
          "build wrong chains from them.",
          "`onboard convert` drops them from the package it makes.",
          YOU, "Sectigo .p12 downloads"),
    # --- VOMS-Admin pages ----------------------------------------------------------------------------
    Known("voms-wrong-confirmation",
          r"Wrong confirmation id",
          "the confirmation link does not match your request",
          "The link's confirmationId is not the one of your pending request (an older mail, or a request "
          "made again).",
          "Use the link of the latest confirmation mail; `onboard resume` finds it by itself.",
          VO_ADMIN, "VOMS-Admin ConfirmRequestAction"),
    Known("voms-validation",
          r"VO Members?h?ip request validation error",
          "the VO refused the registration form's values",
          "A VO-specific check (a plugin) rejected something in the form.",
          "Read the field errors shown; correct the config (user.*) and `onboard resume`.",
          VO_ADMIN, "VOMS-Admin pluginValidationError"),
]


def _second_year() -> list[Known]:
    """The refusals of a lapsed membership (delivery/lapse_messages.py: the verify step maps them too)."""
    from onboard.delivery.lapse_messages import LAPSES

    return [Known(m.key, m.pattern, m.title, m.meaning, m.todo, m.whom, m.source) for m in LAPSES]


KNOWN[:0] = _second_year()  # first: more specific than the credential errors below


def explain_message(text: str) -> list[Known]:
    """Every known message found in `text`, most specific first (the order of KNOWN)."""
    return [k for k in KNOWN if k.matches(text)]


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    p.add_argument("message", nargs="*", help="the error message as it came ('-' or none: read standard "
                                              "input)")
    p.add_argument("--list", action="store_true", help="list every message onboard knows")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from onboard.errors import Exit, OnboardError, UsageError

    if args.list:
        for k in KNOWN:
            print(f"{k.key:<26} {k.title}")
        return Exit.OK
    text = " ".join(args.message)
    if text in ("", "-"):
        if sys.stdin.isatty() and text != "-":
            raise UsageError("no message given.",
                             'Paste it in quotes: onboard explain "the message"; or pipe it in.')
        text = sys.stdin.read()
    text = text.strip()
    if not text:
        raise UsageError("the message is empty.", 'Paste it in quotes: onboard explain "the message".')
    found = explain_message(text)
    if args.json:
        print(json.dumps([k.__dict__ for k in found], indent=2, ensure_ascii=False))
        return Exit.OK if found else Exit.ERROR
    if not found:
        raise OnboardError("onboard does not know this message.",
                           "Check that you pasted all of it; `onboard explain --list` shows the known ones. "
                           "Ask your institution's IT helpdesk, quoting the message exactly.")
    for i, k in enumerate(found):
        if i:
            print()
        print(f"This means: {k.title}.")
        print(f"  Why: {k.meaning}")
        print(f"  What to do: {k.todo}")
        print(f"  Whom to ask: {k.whom}.")
        print(f"  (source: {k.source})")
    return Exit.OK
