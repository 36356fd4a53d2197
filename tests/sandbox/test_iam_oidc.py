"""The sandbox IAM as an OIDC issuer, from outside with plain HTTP (what a client and a trainee see):
IAM's discovery document and paths, the device grant's error codes, refresh, userinfo, and the /device
page's rules in a room of trainees (who may approve which code)."""

from __future__ import annotations

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from onboard.sandbox import iam
from onboard.sandbox.iam import oidc_model

from .conftest import VO

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "openid profile offline_access wlcg.groups"


def _base(sb, vo=VO):
    return f"{sb.app.base_url('open')}/iam/{vo}"


def _account(sb, name, vo=VO):
    r = requests.post(
        f"{_base(sb, vo)}/registration/create",
        json={
            "username": name,
            "givenname": name.title(),
            "familyname": "Tester",
            "email": f"{name}@example.org",
        },
        verify=str(sb.ca.bundle_path),
        timeout=30,
    )
    iam.approve(sb.ctx, r.json()["uuid"])


def _client(sb, vo=VO):
    r = requests.post(
        f"{_base(sb, vo)}/iam/api/client-registration",
        json={"client_name": "test", "grant_types": ["refresh_token", DEVICE], "scope": SCOPE + " admin"},
        verify=str(sb.ca.bundle_path),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["scope"] == SCOPE  # a scope IAM does not offer is dropped
    return body["client_id"], body["client_secret"]


def _post(sb, path, data, auth=None, vo=VO):
    return requests.post(
        f"{_base(sb, vo)}{path}", data=data, auth=auth, verify=str(sb.ca.bundle_path), timeout=30
    )


def test_discovery_device_grant_refresh_and_userinfo(sandbox, clock):
    v = str(sandbox.ca.bundle_path)
    doc = requests.get(f"{_base(sandbox)}/.well-known/openid-configuration", verify=v, timeout=30).json()
    assert doc["issuer"] == _base(sandbox) + "/"  # IAM's trailing slash
    assert doc["device_authorization_endpoint"] == f"{_base(sandbox)}/devicecode"
    assert doc["registration_endpoint"] == f"{_base(sandbox)}/iam/api/client-registration"
    assert doc["jwks_uri"] == f"{_base(sandbox)}/jwk"
    _account(sandbox, "ann")
    cid, secret = _client(sandbox)
    assert _post(sandbox, "/devicecode", {"scope": SCOPE}, (cid, "wrong")).json()["error"] == "invalid_client"
    dc = _post(sandbox, "/devicecode", {"scope": SCOPE}, (cid, secret)).json()
    assert dc["verification_uri"] == f"{_base(sandbox)}/device"
    poll = {"grant_type": DEVICE, "device_code": dc["device_code"]}
    r = _post(sandbox, "/token", poll, (cid, secret))
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending"
    assert _post(sandbox, "/token", poll, (cid, secret)).json()["error"] == "slow_down"  # at once again
    assert oidc_model.decide(sandbox.ctx, dc["user_code"], "ann", True, vo=VO) is not None
    clock.advance(10)
    tokens = _post(sandbox, "/token", poll, (cid, secret)).json()
    assert _post(sandbox, "/token", poll, (cid, secret)).json()["error"] == "invalid_grant"  # used once
    keys = KeySet.import_key_set(requests.get(doc["jwks_uri"], verify=v, timeout=30).json())
    claims = jwt.decode(tokens["access_token"], keys).claims
    assert (
        claims["wlcg.ver"] == "1.0" and claims["wlcg.groups"] == [f"/{VO}"] and claims["iss"] == doc["issuer"]
    )
    assert claims["client_id"] == cid and set(claims) >= {"sub", "aud", "exp", "iat", "nbf", "jti", "scope"}
    info = requests.get(
        f"{_base(sandbox)}/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        verify=v,
        timeout=30,
    ).json()
    assert info["preferred_username"] == "ann" and info["wlcg.groups"] == [f"/{VO}"]
    again = _post(
        sandbox,
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": cid,
            "client_secret": secret,
        },
    )
    assert again.status_code == 200 and "access_token" in again.json()
    other_cid, other_secret = _client(sandbox)  # another client cannot use ann's refresh token
    stolen = _post(
        sandbox,
        "/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        (other_cid, other_secret),
    )
    assert stolen.json()["error"] == "invalid_grant"


def test_expired_and_denied_device_codes(sandbox, clock):
    _account(sandbox, "ann")
    cid, secret = _client(sandbox)
    dc = _post(sandbox, "/devicecode", {"scope": SCOPE}, (cid, secret)).json()
    clock.advance(oidc_model.DEVICE_CODE_SECONDS + 1)
    poll = {"grant_type": DEVICE, "device_code": dc["device_code"]}
    assert _post(sandbox, "/token", poll, (cid, secret)).json()["error"] == "expired_token"
    dc = _post(sandbox, "/devicecode", {"scope": SCOPE}, (cid, secret)).json()
    oidc_model.decide(sandbox.ctx, dc["user_code"], "ann", False, vo=VO)
    poll = {"grant_type": DEVICE, "device_code": dc["device_code"]}
    assert _post(sandbox, "/token", poll, (cid, secret)).json()["error"] == "access_denied"


def test_the_device_page_wants_a_login_and_keeps_each_iam_to_its_own_codes(sandbox):
    v = str(sandbox.ca.bundle_path)
    _account(sandbox, "ann")
    _account(sandbox, "eve", vo="othervo")
    cid, secret = _client(sandbox)
    dc = _post(sandbox, "/devicecode", {"scope": SCOPE}, (cid, secret)).json()
    anonymous = requests.get(f"{_base(sandbox)}/device", verify=v, timeout=30)
    assert anonymous.status_code == 401
    # eve, logged in at othervo's IAM, cannot approve ann's testvo code there
    eve = requests.Session()
    with sandbox.ctx.db() as db:  # a password as the reset link would set it
        from onboard.sandbox.iam.routes import _hash

        db.execute(
            "UPDATE iam_request SET password_hash=? WHERE username='eve'", (_hash("eve password 1", "s"),)
        )
    eve.post(
        f"{_base(sandbox, 'othervo')}/login",
        data={"username": "eve", "password": "eve password 1"},
        verify=v,
        timeout=30,
    )
    r = eve.post(
        f"{_base(sandbox, 'othervo')}/device/approve",
        data={"user_code": dc["user_code"], "user_oauth_approval": "true"},
        verify=v,
        timeout=30,
    )
    assert r.status_code == 400 and "was not found" in r.text
    # nor at testvo's IAM, where her session is nobody
    r = eve.post(
        f"{_base(sandbox)}/device/approve",
        data={"user_code": dc["user_code"], "user_oauth_approval": "true"},
        verify=v,
        timeout=30,
    )
    assert r.status_code == 401
    assert oidc_model.pending_code(sandbox.ctx, dc["user_code"]) is not None  # still waiting for ann
