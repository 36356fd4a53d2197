"""A trainee joins the sandbox: the join point over real TLS, the fingerprint read aloud, the trust bundle
installed with its checks, the configuration written; then the portal issues the certificate over TLS
verified against that trust anchor. And what happens when someone else answers."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

ca_mod = pytest.importorskip("onboard.sandbox.ca")
web = pytest.importorskip("onboard.sandbox.web")
settings_mod = pytest.importorskip("onboard.sandbox.settings")

from onboard import config as config_mod  # noqa: E402
from onboard.orientation import join  # noqa: E402
from onboard.sandbox import portal, seats  # noqa: E402
from onboard.sandbox.context import SandboxContext  # noqa: E402
from onboard.steps import obtain as step  # noqa: E402


class MiniContext(SandboxContext):
    """The sandbox context the portal routes use, its log kept for the test."""

    def __init__(self, directory: Path):
        super().__init__(directory, settings_mod.Settings(port_base=0, hostname="localhost"))
        self.logged: list[str] = []

    def log(self, message: str) -> None:
        self.logged.append(message)


def seat_token(ctx, tmp_path: Path) -> Path:
    """A seat made by the instructor; its token in the file `join` keeps it in."""
    token_file = tmp_path / f"seat-token-{len(list(tmp_path.glob('seat-token-*')))}"
    token_file.write_text(seats.make(ctx, 1)[0] + "\n")
    return token_file


def serve(directory: Path, tls_ca=None):
    """The portal routes on an "open" listener; its TLS certificate from `tls_ca` (default: its own CA)."""
    ctx = MiniContext(directory)
    ctx.ca.ensure()
    app = web.App(ctx)
    portal.install(app)
    cert, key = (tls_ca or ctx.ca).ensure().host_credential("host", ["localhost", "127.0.0.1"])
    tls = web.server_context(str(cert), str(key), str(ctx.ca.trust_dir), "optional")
    listener = web.Listener(app, "open", "127.0.0.1", 0, tls).start()
    app.ports["open"] = listener.port
    ctx.settings.ports = {"open": listener.port}
    return ctx, listener


@pytest.fixture
def sandbox(tmp_path):
    ctx, listener = serve(tmp_path / "sandbox")
    yield ctx, f"https://127.0.0.1:{listener.port}"
    listener.stop()


def _fp(ctx) -> str:
    return portal.fingerprint(ctx.ca.root.public_bytes(serialization.Encoding.DER))


def _joined(url: str, ctx, tmp_path: Path, make_ctx):
    """`onboard sandbox join` with the instructor's fingerprint, then an obtain context for the portal."""
    said = " ".join(_fp(ctx).split()[:4]).lower()  # the instructor reads the first four groups aloud
    joined = join.fetch(url, said)
    token_file = seat_token(ctx, tmp_path)
    join.claim_seat(joined, url, token_file.read_text(), "Tia Trainee", "tia@example.org")
    trust_dir = tmp_path / "data" / "sandbox" / "certificates"
    cfg_path = tmp_path / "xdg-config" / "onboard" / "config.toml"
    cfg_path.parent.mkdir(parents=True)
    cfg_path.write_text("# my old config\n")
    path, backup = join.install(joined, trust_dir=trust_dir, config_path=cfg_path,
                                user={"given_name": "Tia", "family_name": "Trainee",
                                      "email": "tia@example.org"}, token_file=token_file)
    assert backup is not None and backup.read_text() == "# my old config\n"  # nothing lost
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = config_mod.load(path)
    assert cfg.ca.provider == "sandbox" and cfg.ca.portal_url.endswith("/portal")
    assert cfg.trust.cert_dir == trust_dir and cfg.ca.seat_token_file == token_file
    assert list(trust_dir.glob("*.0"))  # the sandbox CA, hash-linked, where onboard's HTTPS looks
    assert cfg.vos["sandbox"].url.endswith("/voms/sandbox") and cfg.user.email == "tia@example.org"
    pf = tmp_path / "pass"
    pf.write_text("trainee passphrase 7\n")
    c = make_ctx(provider="sandbox", portal_url=cfg.ca.portal_url, passphrase_file=pf)
    c.ctx.config.trust.cert_dir = trust_dir
    c.ctx.config.ca.seat_token_file = token_file
    c.ctx.config.user.given_name, c.ctx.config.user.family_name = "Tia", "Trainee"
    c.ctx.config.user.email = "tia@example.org"
    return c


def test_join_then_the_portal_issues_the_certificate(sandbox, tmp_path, make_ctx, onboard_env):
    ctx, url = sandbox
    fp = _fp(ctx)
    assert len(fp.split()) == 16
    c = _joined(url, ctx, tmp_path, make_ctx)
    # the portal, over TLS verified against the installed trust anchor (hostname localhost checked)
    step.run(c.ctx)
    p12 = c.record.artifacts.p12
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    key, cert, chain = pkcs12.load_key_and_certificates(p12.read_bytes(), b"trainee passphrase 7")
    assert "CN=Tia Trainee" in cert.subject.rfc4514_string()
    assert any("issued" in m for m in ctx.logged)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (400, b'{"error": "the name is taken"}', "the name is taken"),
        (403, b'["not", "a", "dict"]', "HTTP 403"),
        (500, b"<html>Internal error</html>", "HTTP 500"),
        (400, b"{}", "HTTP 400"),
        pytest.param(400, b"[" * 100_000, "HTTP 400", id="nested-past-the-stack"),
    ],
)
def test_a_portal_refusal_of_any_shape_is_one_error(tmp_path, make_ctx, onboard_env, status, body, said):
    from onboard.errors import Exit, OnboardError

    ctx, listener = serve(tmp_path / "sandbox")
    try:
        c = _joined(f"https://127.0.0.1:{listener.port}", ctx, tmp_path, make_ctx)
        inner = listener.app.dispatch
        listener.app.dispatch = lambda req: (
            web.Response(body, status, content_type="application/json")
            if req.path.endswith("/issue")
            else inner(req)
        )
        with pytest.raises(OnboardError) as e:
            step.run(c.ctx)
        assert e.value.message == f"the sandbox portal refused: {said}."
        assert e.value.exit_code == Exit.SANDBOX and c.record.artifacts.p12 is None
    finally:
        listener.stop()


def test_wrong_fingerprint_installs_nothing(sandbox, tmp_path):
    ctx, url = sandbox
    wrong = "0000 1111 2222 3333"
    with pytest.raises(join.JoinError, match="does NOT have the fingerprint"):
        join.fetch(url, wrong)
    with pytest.raises(join.UsageError, match="at least 16"):
        join.fetch(url, "3F2A")


def test_someone_else_answering_is_caught(tmp_path):
    """A server whose TLS certificate comes from another CA, serving the genuine sandbox's bundle."""
    genuine = MiniContext(tmp_path / "genuine")
    genuine.ca.ensure()
    impostor_ca = ca_mod.SandboxCA(tmp_path / "impostor-ca")
    ctx, listener = serve(tmp_path / "genuine", tls_ca=impostor_ca)
    try:
        with pytest.raises(join.JoinError, match="not a server certificate for 127.0.0.1 issued under"):
            join.fetch(f"https://127.0.0.1:{listener.port}", _fp(genuine))
    finally:
        listener.stop()


def test_portal_refuses_short_passphrase(sandbox):
    import http.client
    import json
    import ssl

    ctx, url = sandbox
    tls = ssl.create_default_context(cafile=str(ctx.ca.bundle_path))
    conn = http.client.HTTPSConnection("localhost", int(url.rsplit(":", 1)[1]), context=tls, timeout=10)
    body = json.dumps({"name": "X Y", "email": "x@y.org", "passphrase": "short"})
    conn.request("POST", "/portal/issue", body=body, headers={"Content-Type": "application/json",
                                                              seats.HEADER: seats.make(ctx, 1)[0]})
    resp = conn.getresponse()
    assert resp.status == 400 and "12 characters" in json.loads(resp.read())["error"]
    conn.close()


def test_fingerprint_format():
    fp = portal.fingerprint(b"x")
    assert fp.replace(" ", "") == hashlib.sha256(b"x").hexdigest().upper()
    assert join.normalise_fingerprint("sha256:" + fp.lower().replace(" ", ":")) == fp.replace(" ", "")


def test_trainee_reports_to_the_board(sandbox, tmp_path):
    from datetime import datetime, timezone

    from onboard.config import Config
    from onboard.orientation import board, report
    from onboard.state import JourneyRecord, LastError

    ctx, url = sandbox
    _, info = ctx.ca.ensure().issue_user("Rex Reporter", "rex@example.org", b"rex passphrase 123")
    token_file = seat_token(ctx, tmp_path)
    with ctx.db() as db:  # Rex's seat, claimed and issued
        seat = seats.by_token(db, token_file.read_text())
        seats.claim(db, seat, "Rex Reporter", "rex@example.org", 0)
        seats.bind_subject(db, seat, info.subject, 0)
    portal_url = url.replace("127.0.0.1", "localhost") + "/portal"
    cfg = Config.model_validate({"ca": {"provider": "sandbox", "portal_url": portal_url,
                                        "seat_token_file": str(token_file)},
                                 "user": {"email": "rex@example.org"},
                                 "trust": {"cert_dir": str(ctx.ca.trust_dir)}})
    rec = JourneyRecord(vo="sandbox", workflow="voms-admin", state="verify")
    rec.artifacts.certificate.subject_dn = info.subject
    rec.last_error = LastError(at=datetime.now(timezone.utc), step="verify", message="voms-proxy-init failed")
    assert report.send(cfg, rec) is True
    rows = {r.name: r for r in board.rows(ctx.dir)}
    assert rows["Rex Reporter"].last_error == "verify: voms-proxy-init failed"
    rec.state, rec.last_error = "done", None
    assert report.send(cfg, rec) is True
    rows = {r.name: r for r in board.rows(ctx.dir)}
    assert rows["Rex Reporter"].stage == "done" and rows["Rex Reporter"].last_error == ""
    # not a sandbox journey: nothing is sent
    assert report.send(Config(), rec) is False


def test_a_bomb_in_the_join_answer_is_refused_within_bounded_memory(tmp_path):
    """Reproduced: an 8 MB join answer reached 6.4 GB before the fingerprint was checked (the trust bundle
    in it was inflated whole). The bundle is now read within onboard.pki.tarball's limits."""
    import subprocess
    import sys

    code = (
        "import resource, tarfile, zlib\n"
        "from onboard.errors import OnboardError\n"
        "from onboard.orientation import join\n"
        "co = zlib.compressobj(9, zlib.DEFLATED, 31)\n"
        "h = tarfile.TarInfo('trust/abcdef01.0'); h.size = 1 << 30\n"
        "parts = [co.compress(h.tobuf())] + [co.compress(bytes(1 << 20)) for _ in range(1 << 10)]\n"
        "bomb = b''.join(parts) + co.flush()\n"
        "assert len(bomb) < 8 << 20, len(bomb)\n"
        "try:\n"
        "    join._bundle_certs(bomb)\n"
        "except OnboardError as e:\n"
        "    print(e.message)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    message, peak_kib = r.stdout.splitlines()
    assert "inflates to more than" in message, r.stderr
    assert int(peak_kib) < 300 * 1024


def test_a_server_answering_http_1_0_and_closing_is_still_checked(tmp_path):
    """Reproduced: against a server that answers HTTP/1.0 (or closes early), join said the certificate was
    "not issued by the sandbox CA": it asked the socket for the certificate after the server had closed it."""
    import http.client
    import socket
    import ssl
    import threading

    ctx, listener = serve(tmp_path / "genuine")
    try:
        plain = ssl.create_default_context(cafile=str(next(ctx.ca.trust_dir.glob("*.0"))))
        plain.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", listener.port, context=plain, timeout=10)
        conn.request("GET", "/onboard/join")
        body = conn.getresponse().read()
        conn.close()
    finally:
        listener.stop()
    cert, key = ctx.ca.host_credential("host", ["localhost", "127.0.0.1"])
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(cert), str(key))
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_once() -> None:
        for _ in range(2):  # join asks twice: to find the root, then verified against it
            raw, _ = server.accept()
            with tls.wrap_socket(raw, server_side=True) as s:
                s.recv(65536)
                s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)

    t = threading.Thread(target=answer_once, daemon=True)
    t.start()
    try:
        joined = join.fetch(f"https://127.0.0.1:{port}", _fp(ctx))
    finally:
        server.close()
    assert joined.bundle and joined.config
