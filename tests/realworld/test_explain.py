"""`onboard explain` matches each error message of the GÉANT TCS guide and the grid tools' real messages."""

from __future__ import annotations

import json

import pytest

from onboard.commands.explain import KNOWN, explain_message

# verbatim from the GÉANT TCS guide ("In case of errors", and step 10)
GUIDE = {
    "tcs-schac": "Organization with schacHomeOrganization nikhef.nl was not found on Sectigo Certificate "
                 "Manager.  Please contact your security administrator",
    "tcs-entitlement": "Your are not entitled to use this service",
    "tcs-limit": "Sectigo Certificate Manager enrollment request failed. Please contact your security "
                 "administrator.",
}
GUIDE_MORE = {
    "tcs-entitlement": "You are not entitled to use this service.",
    "tcs-limit": "You cannot generate more certificates",
}

# verbatim from the tools (reference/credentials.md §6)
TOOLS = {
    "openssl-legacy-rc2": "Error outputting keys and certificates\n40F7:error:0308010C:digital envelope "
                          "routines:inner_evp_generic_fetch:unsupported:../crypto/evp/evp_fetch.c:386:Global "
                          "default library context, Algorithm (RC2-40-CBC : 0), Properties ()",
    "openssl-no-legacy-provider": "pkcs12: unable to load provider legacy\nHint: use -provider-path option "
                                  "or OPENSSL_MODULES environment variable.",
    "libressl-legacy": "pkcs12: Unrecognized flag legacy",
    "gct-p12": "Error: Couldn't read in PKCS12 credential from file: /home/johndoe/.globus/usercred.p12",
    "macos-mac-verify": "security: SecKeychainItemImport: MAC verification failed during PKCS12 import "
                        "(wrong password?)",
    "openssl-mac-verify": "Mac verify error: invalid password?",
    "openssl-bad-decrypt": "error:1C800064:Provider routines:ossl_cipher_unpadblock:bad decrypt",
    "openssl-pem-key": "Could not read key from <stdin>",
    "gct-bad-passphrase": "Couldn't read user key: Bad passphrase for key in /home/u/.globus/userkey.pem",
    "voms-wrong-passphrase": "wrong pass phrase\nFunction: proxy_init_cred",
    "voms-java-passphrase": "Error decrypting private key: the password is incorrect or the PEM data is "
                            "corrupted.",
    "gct-key-perms": "Permissions on /home/u/.globus/userkey.pem are too permissive. Maximum allowable "
                     "permissions are 600",
    "gct-cert-perms": "Permissions on /home/u/.globus/usercert.pem are too permissive. Maximum allowable "
                      "permissions are 644",
    "gct-owner": "/home/u/.globus/userkey.pem is not owned by current user",
    "voms-no-valid-credentials": "ERROR: Couldn't find valid credentials to generate a proxy.\nUse --debug "
                                 "for further information.",
    "voms-key-fs-perms": "bad file system permissions on private key\n    key must only be readable by the "
                         "user",
    "voms-java-key-perms": "Wrong file permissions on file /home/u/.globus/userkey.pem. Required permissions "
                           "are: 400, 600 ",
    "voms-java-p12-perms": "Wrong file permissions on file /home/u/.globus/usercred.p12. Expected: 600",
    "no-credentials": "Unable to find user certificate or key: /home/u/.globus/usercert.pem",
    "vomses-missing": "Cannot find file or dir: /home/u/.glite/vomses",
    "trust-anchors-missing": "Invalid trust anchors location: '/etc/grid-security/certificates' (file not "
                             "found)",
    "lsc-missing": "WARNING: VOMS AC validation for VO cms failed for the following reasons: LSC validation "
                   "failed: LSC file matching VOMS attributes not found in store.",
    "key-cert-mismatch": "sslutils.c:3140:error:400003F5:lib(128)::processing key",
    "rucio-proxy-mode": "X.509 authentication selected, but private key (/tmp/x509up_u12345) permissions are "
                        "liberal (required: 400, found: 600)",
    "expired": "Error: Error during SSL handshake:Either proxy or user certificate are expired.",
    "weak-password": "Password is too weak",
    "osg-requested": "Certificate request is in Requested state. Needs to be Approved first. Please contact "
                     "GA to approve this certificate",
    "voms-wrong-confirmation": "Wrong confirmation id!",
}


@pytest.mark.parametrize("key, message", [*GUIDE.items(), *GUIDE_MORE.items(), *TOOLS.items()])
def test_each_message_is_matched_first_by_its_entry(key, message):
    found = explain_message(message)
    assert found, message
    assert found[0].key == key


def test_every_entry_says_whom_to_ask():
    keys = [k.key for k in KNOWN]
    assert len(keys) == len(set(keys))
    for k in KNOWN:
        assert k.meaning and k.todo and k.whom and k.source


@pytest.mark.parametrize("key, message", GUIDE.items())
def test_cli_explains_the_guide_messages(cli, key, message):
    r = cli("explain", message)
    assert r.returncode == 0, r.stderr
    k = next(k for k in KNOWN if k.key == key)
    assert k.title in r.stdout and "Whom to ask:" in r.stdout
    assert ("RAO" in r.stdout) if key in ("tcs-schac", "tcs-limit") else ("identity provider" in r.stdout)


def test_guide_advice_is_the_guides():
    schac, entitled, limit = (explain_message(m)[0] for m in GUIDE.values())
    assert "Academic code (SCHAC" in schac.todo and "wrong portal address" in schac.meaning
    assert "urn:mace:terena.org:tcs:personal-user" in entitled.todo
    assert "two valid certificates" in limit.meaning and "revoke" in limit.todo


def test_cli_reads_stdin_and_json(cli):
    r = cli("explain", "-", input="blah\n" + TOOLS["vomses-missing"] + "\n")
    assert r.returncode == 0 and "vomses" in r.stdout
    r = cli("explain", "--json", TOOLS["gct-key-perms"])
    assert json.loads(r.stdout)[0]["key"] == "gct-key-perms"


def test_cli_unknown_message(cli):
    r = cli("explain", "the flux capacitor is out of plutonium")
    assert r.returncode == 1
    assert "does not know" in r.stderr and "hint:" in r.stderr


def test_cli_list(cli):
    r = cli("explain", "--list")
    assert r.returncode == 0 and "tcs-limit" in r.stdout
