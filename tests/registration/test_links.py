"""Confirmation links: extracted from plain, HTML and quoted-printable mails; only this journey's server
(scheme, host, port, VO path) is accepted, VOMS-Admin's hard-coded :8443 mapped; anything else refused."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from onboard import registration
from onboard.registration.links import UnsafeLink, extract_links


def check_link(url: str, registration_url: str, kind: str):
    """The checks as the journey makes them: through the service's registrar."""
    return registration.get(kind).check_link(url, registration_url)


def find_confirmation(msg, registration_url: str, kind: str):
    return registration.get(kind).find_confirmation(msg, registration_url)


REG = "https://voms.example.org:9443/voms/cms"
RID, UUID = "42", "0f8fad5b-d9cb-469f-a165-70867728950e"
GOOD = f"https://voms.example.org:8443/voms/cms/register/confirm-request.action?requestId={RID}&confirmationId={UUID}"


def mail(text: str | None = None, html: str | None = None, cte: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["Subject"] = "[VOMS Admin] Your membership request for VO cms"
    m["From"] = "voms-admin@voms.example.org"
    if text is not None:
        m.set_content(text, cte=cte) if cte else m.set_content(text)
    if html is not None:
        if text is None:
            m.set_content(html, subtype="html", cte=cte) if cte else m.set_content(html, subtype="html")
        else:
            m.add_alternative(html, subtype="html")
    return m


def test_hardcoded_8443_is_mapped_to_the_configured_port():
    conf = check_link(GOOD, REG, "voms-admin")
    assert conf.url.startswith("https://voms.example.org:9443/voms/cms/register/confirm-request.action?")
    assert (conf.request_id, conf.token) == (RID, UUID)


def test_same_port_is_kept():
    assert check_link(GOOD.replace(":8443", ":9443"), REG, "voms-admin").url == GOOD.replace(":8443", ":9443")


@pytest.mark.parametrize(
    "url,why",
    [
        (GOOD.replace("https://", "http://"), "not https"),
        (GOOD.replace("voms.example.org", "voms.example.org.evil.net"), "only looks like"),
        (GOOD.replace("voms.example.org", "voms-example.org"), "only looks like"),
        (GOOD.replace("voms.example.org", "vorns.example.org"), "only looks like"),
        (GOOD.replace("voms.example.org", "evil.net"), "not at voms.example.org"),
        (GOOD.replace("voms.example.org:8443", "voms.example.org:8443@evil.net"), "user name"),
        (GOOD.replace("voms.example.org", "vоms.example.org"), "non-ASCII"),  # Cyrillic о
        (GOOD.replace(":8443", ":443"), "port 443"),
        (GOOD.replace("/voms/cms/", "/voms/atlas/"), "not under /voms/cms/"),
        (GOOD.replace("/voms/cms/", "/voms/cms/../atlas/"), "dot segments"),
        (
            GOOD.replace("/register/confirm-request.action", "/register/cancel-request.action"),
            "not the confirmation",
        ),
        (GOOD.replace("confirmationId=", "x=1&confirmationId="), "parameters"),
        (GOOD.replace(UUID, "not-a-uuid"), "malformed"),
        (GOOD + "#x", "fragment"),
        (GOOD.replace("confirm-request", "confirm%2Drequest"), "percent-encoded"),
        # reproduced: `$` let a newline through, `\\d` full-width digits (hardening, round 2)
        (GOOD.replace(UUID, UUID + "%0A"), "confirmationId is malformed"),
        (GOOD.replace(f"requestId={RID}", "requestId=%EF%BC%94%EF%BC%92"), "requestId is malformed"),
        (GOOD.replace(f"requestId={RID}", "requestId=４２"), "non-ASCII"),
    ],
)
def test_refused(url, why):
    with pytest.raises(UnsafeLink) as e:
        check_link(url, REG, "voms-admin")
    assert why in e.value.message
    assert "expected a link under https://voms.example.org:9443/voms/cms/" in e.value.message


def test_8443_is_not_mapped_for_iam():
    with pytest.raises(UnsafeLink):
        check_link(
            f"https://iam.example.org:8443/registration/verify/{UUID}", "https://iam.example.org", "iam"
        )
    assert (
        check_link(
            f"https://iam.example.org/registration/verify/{UUID}", "https://iam.example.org/", "iam"
        ).token
        == UUID
    )


def test_extract_from_plain_html_and_quoted_printable():
    plain = mail(f"Dear jane,\n\nconfirm:\n\n{GOOD}\n\nbye")
    assert GOOD in extract_links(plain)
    html = mail(html=f'<p>Please <a href="{GOOD.replace("&", "&amp;")}">confirm</a>.</p>')
    assert GOOD in extract_links(html)
    qp = mail(f"confirm here:\n{GOOD}\n" + "x" * 100, cte="quoted-printable")
    raw = qp.as_bytes()
    assert b"=\n" in raw or b"=3D" in raw  # really encoded (soft line breaks, '=' escaped)
    assert GOOD in extract_links(qp)


def test_phishing_mail_is_refused_and_reported():
    evil = GOOD.replace("voms.example.org:8443", "voms.example.org.login-check.net")
    m = mail(f"Your request expires today! Confirm now:\n{evil}\n")
    good, refused = find_confirmation(m, REG, "voms-admin")
    assert good is None
    assert len(refused) == 1 and "voms.example.org.login-check.net" in refused[0]


def test_html_text_showing_the_real_link_but_pointing_elsewhere():
    m = mail(html=f'<a href="https://evil.net/c?x=1">{GOOD}</a>')
    good, refused = find_confirmation(m, REG, "voms-admin")
    # the visible text is the real link (it counts), the href elsewhere is reported, never followed
    assert good is not None and good.request_id == RID
    assert any("evil.net" in r for r in refused)


def test_cancel_link_of_the_real_mail_is_neither_followed_nor_reported():
    cancel = GOOD.replace("confirm-request", "cancel-request")
    good, refused = find_confirmation(mail(f"{GOOD}\n\nnever requested? {cancel}\n"), REG, "voms-admin")
    assert good is not None and refused == []


def test_a_server_configured_without_a_port_is_reached_on_443_only():
    """Reproduced: with a configured URL that names no port, a link or redirect to any port of that host
    was followed with the certificate (another service, perhaps another user's, on that host)."""
    from onboard.adapters.https import _same_server

    base = "https://voms.example.org/voms/cms"
    assert _same_server("https://voms.example.org/voms/cms/x", base)
    assert _same_server("https://voms.example.org:443/voms/cms/x", base)
    assert not _same_server("https://voms.example.org:9999/voms/cms/x", base)
    assert not _same_server("https://voms.example.org/x", "https://voms.example.org:9443/voms/cms")
    with pytest.raises(UnsafeLink) as e:
        check_link(GOOD.replace(":8443", ":9999"), base, "voms-admin")
    assert "port 9999" in e.value.message
