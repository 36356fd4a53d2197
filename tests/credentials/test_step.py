"""The journey's convert step: fills the record, and does nothing the second time."""

from __future__ import annotations

import subprocess

import pytest

from onboard.config import Config, Credentials
from onboard.errors import CredentialError
from onboard.state import JourneyRecord
from onboard.steps import convert as step
from tests.lib.context import step_context
from tests.lib.files import snapshot
from tests.lib.pki import NOW


def make_ctx(tmp_path, *, pwfile=None, p12=None, record=None, new_passphrase=False):
    saves = []
    record = record or JourneyRecord(vo="testvo", workflow="voms-admin", state="convert")
    cfg = Config(credentials=Credentials(dir=tmp_path / "globus", name_format="dated"))
    ctx = step_context(
        record=record,
        config=cfg,
        passphrase_file=pwfile,
        checkpoint=lambda: saves.append(record.model_dump_json()),
        now=lambda: NOW,
        state="convert",
        options={"p12": p12} if p12 else {},
    )
    return ctx, saves


def test_step_fills_record_and_is_idempotent(pki, jose, pwfile, tmp_path, onboard_env):
    p12 = pki.p12(jose, "Certificate.p12", legacy=True)
    ctx, saves = make_ctx(tmp_path, pwfile=pwfile, p12=p12)
    step.run(ctx)
    art = ctx.record.artifacts
    assert saves, "the step checkpoints after writing"
    assert art.cert.name.startswith("cert-Jose_Perez_issued_") and art.key.is_file() and art.package.is_file()
    assert art.chain and art.chain.is_file() and art.p12 == p12
    expect_subject = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-nameopt", "compat"],
        input=jose.pem(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "subject=" + art.certificate.subject_dn == expect_subject.strip()
    expect_issuer = subprocess.run(
        ["openssl", "x509", "-noout", "-issuer", "-nameopt", "compat"],
        input=jose.pem(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "issuer=" + art.certificate.issuer_dn == expect_issuer.strip()
    serial = (
        subprocess.run(
            ["openssl", "x509", "-noout", "-serial"], input=jose.pem(), capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
        .removeprefix("serial=")
    )
    assert int(art.certificate.serial, 16) == int(serial, 16)
    fp = (
        subprocess.run(
            ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
            input=jose.pem(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
        .split("=", 1)[1]
    )
    assert art.certificate.sha256 == fp
    assert art.certificate.not_after == jose.cert.not_valid_after_utc
    # no secret in the record
    assert "correct horse" not in ctx.record.model_dump_json()

    # second run: no passphrase source at all, nothing asked, nothing written
    before = snapshot(tmp_path / "globus")
    ctx2, _ = make_ctx(tmp_path, record=ctx.record)
    step.run(ctx2)
    assert snapshot(tmp_path / "globus") == before


def test_step_after_crash_before_checkpoint(pki, jose, pwfile, tmp_path, onboard_env):
    """Files written, record not saved: the rerun sees the same certificate installed and writes nothing."""
    p12 = pki.p12(jose, "Certificate.p12")
    first, _ = make_ctx(tmp_path, pwfile=pwfile, p12=p12)
    step.run(first)
    before = snapshot(tmp_path / "globus")
    ctx, saves = make_ctx(tmp_path, pwfile=pwfile, p12=p12)  # a fresh record
    step.run(ctx)
    assert snapshot(tmp_path / "globus") == before
    assert ctx.record.artifacts.cert == first.record.artifacts.cert and saves


def test_step_without_p12(tmp_path, onboard_env):
    ctx, _ = make_ctx(tmp_path)
    with pytest.raises(CredentialError) as e:
        step.run(ctx)
    assert "--p12" in e.value.hint
