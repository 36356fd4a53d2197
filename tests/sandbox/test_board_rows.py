"""The board's data without a server: a delivery counts only in the home of the seat it belongs to, the
room's picture times each stage, and the instructor's token opens sessions that a new token ends."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from onboard.sandbox import seats
from onboard.sandbox.board import access, room, rows
from onboard.sandbox.context import SandboxContext
from onboard.sandbox.settings import Settings
from tests.lib.sandbox import seed_ca

PASS = b"a passphrase 123"


def _ctx(tmp_path: Path) -> SandboxContext:
    settings = Settings(port_base=0, submit_host="paramiko")  # homes under DIR/submit/home, root or not
    directory = seed_ca(tmp_path / "sb")
    settings.save(directory / "sandbox.json")
    return SandboxContext(directory, settings)


def _seat(ctx, name: str, user: str) -> tuple[str, bytes]:
    """A claimed seat with its account and certificate: (its DN, the certificate's PEM)."""
    (token,) = seats.make(ctx, 1)
    email = f"{user}@example.org"
    blob, info = ctx.ca.ensure().issue_user(name, email, PASS)
    with ctx.db() as db:
        seats.claim(db, seats.by_token(db, token), name, email, ctx.now())
        seats.bind_user(db, seats.by_token(db, token), user)
        seats.bind_subject(db, seats.by_token(db, token), info.subject, ctx.now())
    cert = pkcs12.load_key_and_certificates(blob, PASS)[1]
    return info.subject, cert.public_bytes(serialization.Encoding.PEM)


def _deliver(ctx, user: str, pem: bytes) -> None:
    globus = ctx.dir / "submit" / "home" / user / ".globus"
    globus.mkdir(parents=True, exist_ok=True)
    (globus / "usercert.pem").write_bytes(pem)


def test_a_delivery_counts_only_in_the_home_of_its_own_seat(tmp_path):
    ctx = _ctx(tmp_path)
    ada, ada_pem = _seat(ctx, "Ada Lovelace", "ada")
    mallory, _ = _seat(ctx, "Mallory Evil", "mallory")
    _deliver(ctx, "mallory", ada_pem)  # Ada's certificate is public: Mallory puts it in her own ~/.globus
    assert rows._delivered(ctx.dir) == {}
    _deliver(ctx, "ada", ada_pem)
    assert set(rows._delivered(ctx.dir)) == {ada}
    (ctx.dir / "submit" / "home" / "ada" / ".globus" / "usercert.pem").unlink()
    (ctx.dir / "submit" / "home" / "ada" / ".globus" / "usercert.pem").symlink_to(
        ctx.dir / "submit" / "home" / "mallory" / ".globus" / "usercert.pem")
    assert rows._delivered(ctx.dir) == {}  # a link is not a delivery
    assert mallory not in rows._delivered(ctx.dir)
    # a FIFO would block the board's reader for ever, a huge file fill its memory: neither is read
    import os

    planted = ctx.dir / "submit" / "home" / "ada" / ".globus" / "usercert.pem"
    planted.unlink()
    os.mkfifo(planted)
    assert rows._delivered(ctx.dir) == {}
    planted.unlink()
    planted.write_bytes(ada_pem + b"#" * (rows.MAX_CERT_BYTES + 1))
    assert rows._delivered(ctx.dir) == {}


def test_the_room_times_each_stage_from_the_trainees_who_left_it():
    def row(name, stage, **entered):
        return rows.Row(name, "", f"/CN={name}", stage, entered.get(stage), "", entered=entered)

    got = [row("a", "done", certificate=0, registered=10, confirmed=40, approved=100, delivered=100,
               done=130),
           row("b", "confirmed", certificate=0, registered=20, confirmed=60),
           row("c", "confirmed", certificate=5, registered=15, confirmed=45)]
    by_stage = {p["stage"]: p for p in room.picture(got, now=300)}
    assert by_stage["confirmed"]["count"] == 2 and by_stage["done"]["count"] == 1
    assert by_stage["registered"]["median_seconds"] == 30  # 30, 40, 30
    assert by_stage["confirmed"]["median_seconds"] == 60  # only a has left it
    assert by_stage["confirmed"]["longest_now_seconds"] == 255  # c, confirmed at 45
    assert by_stage["done"]["median_seconds"] is None
    assert "rejected" not in by_stage and "expired" not in by_stage


def test_a_new_instructor_token_ends_the_old_one_and_its_sessions(tmp_path):
    ctx = _ctx(tmp_path)
    first = access.new_token(ctx)
    sid, csrf = access.login(ctx, first)
    cookie = f"other=1; {access.COOKIE}={sid}"
    assert access.session(ctx, cookie) is not None
    assert access.csrf_ok(access.session(ctx, cookie), csrf)
    assert not access.csrf_ok(access.session(ctx, cookie), csrf[:-1] + "x")
    assert access.login(ctx, first[:-1] + ("A" if first[-1] != "A" else "B")) is None
    second = access.new_token(ctx)
    assert access.session(ctx, cookie) is None and access.login(ctx, first) is None
    assert access.login(ctx, second) is not None
    with ctx.db() as db:  # only hashes are kept
        kept = [tuple(r) for r in db.execute("SELECT * FROM board_access")]
        kept += [tuple(r) for r in db.execute("SELECT * FROM board_session")]
    assert second not in repr(kept) and sid not in repr(kept)
