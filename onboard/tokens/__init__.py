"""WLCG tokens for IAM VOs through oidc-agent (`onboard tokens`, and the token step of the IAM journey).

    agent.py    oidc-agent's tools: the user's agent or one of onboard's own, oidc-gen's device login run in
                the background (a login waiting for the person is a wait, exit 75), oidc-token
    verify.py   a token checked against the VO's issuer: JWKS signature, issuer, expiry, the VO's group

onboard keeps nothing secret of its own: the account (client and refresh token) is oidc-agent's, encrypted
with a password that reaches oidc-gen through a pipe (/dev/fd/N), never argv, environment or a file.
"""
