"""The second year's refusals in `onboard explain` and in the verify step's hint. The voms-server texts are
tested against the real server (test_voms_refusals.py); IAM's VOMS-AA and the C client's unreadable-answer
line are built here from their upstream format strings (indigo-iam/iam VOMSErrorMessage, italiangrid/voms
voms_api.cc), as voms-proxy-init prints them after "Error: "."""

from __future__ import annotations

import json

import pytest

from onboard.commands.explain import explain_message
from onboard.delivery.verify import explain_failure
from onboard.errors import Exit

IAM_SUSPENDED = ("Error: User '/DC=org/DC=terena/DC=tcs/C=IT/O=INFN/CN=Jane Doe, /C=NL/O=GEANT Vereniging/"
                 "CN=GEANT eScience Personal CA 4' is not active.")
IAM_AUP = "Error: User jdoe needs to sign AUP for this organization in order to proceed."
C_UNREADABLE = ("Error: Server Answer was incorrectly formatted.\n"
                "None of the contacted servers for cms were capable")


@pytest.mark.parametrize("text, key, whom", [
    (IAM_SUSPENDED, "iam-not-active", "secretariat"),
    (IAM_AUP, "iam-aup", "you sign it yourself"),
    (C_UNREADABLE, "voms-answer-unreadable", "administrators"),
    # the Java voms-proxy-init: its own line, then the server's message (voms-clients ProxyInitListenerHelper)
    ("VOMS server voms-cms-auth.cern.ch:443 returned the following errors:\n"
     "User jdoe needs to sign AUP for this organization in order to proceed.", "iam-aup", "yourself"),
    ("Error: User is currently suspended!\nSuspension reason: OrgDB: CERN HR db validation failed",
     "voms-suspended-hr", "secretariat"),
    ("Error: User is currently suspended!\nSuspension reason: Reason unknown", "voms-suspended",
     "administrators"),
])
def test_each_refusal_names_its_cause_and_whom_to_ask(text, key, whom):
    found = explain_message(text)
    assert found[0].key == key
    assert whom in found[0].whom


def test_the_verify_hint_says_the_same(tmp_path):
    first, hint = explain_failure("cms", "Contacting voms-cms-auth.cern.ch:443 ... Failed\n" + IAM_AUP)
    assert "sign its AUP again" in first and "needs to sign AUP" in first  # cause and the server's words
    assert "IAM dashboard" in hint and "Whom to ask" in hint


def test_explain_cli_lists_and_explains_them(cli):
    r = cli("explain", "--json", IAM_SUSPENDED)
    assert r.returncode == Exit.OK
    assert json.loads(r.stdout)[0]["key"] == "iam-not-active"
    listed = cli("explain", "--list").stdout
    assert "voms-suspended-aup" in listed and "voms-answer-unreadable" in listed
