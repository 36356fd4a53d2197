"""The deliver step takes the package the convert step of the same run has just made, without opening it
again (opening checks the RSA key: tens of milliseconds for each trainee of a room); with another
passphrase, or in a later run, it opens the file as before."""

from __future__ import annotations

import pytest

from onboard.delivery import local
from onboard.errors import CredentialError, Exit
from onboard.secrets import Secrets
from onboard.steps import deliver

from .test_step import make_ctx


@pytest.fixture
def opened(monkeypatch):
    calls: list[str] = []
    real = local.load_package

    def counting(path, passphrase):
        calls.append(str(path))
        return real(path, passphrase)

    monkeypatch.setattr(local, "load_package", counting)
    return calls


def _converted(pki, jose, pwfile, tmp_path):
    from onboard.steps import convert

    ctx, _ = make_ctx(tmp_path, pwfile=pwfile, p12=pki.p12(jose, "Certificate.p12"))
    convert.run(ctx)
    return ctx


def test_the_same_run_delivers_what_convert_made_without_opening_it(pki, jose, pwfile, tmp_path,
                                                                     onboard_env, opened):
    ctx = _converted(pki, jose, pwfile, tmp_path)
    made = deliver.package(ctx)
    assert opened == []
    from tests.lib.pki import PASSPHRASE

    assert made == local.load_package(ctx.record.artifacts.package, PASSPHRASE)  # the same description


def test_another_passphrase_opens_the_file_and_is_refused(pki, jose, pwfile, tmp_path, onboard_env, opened):
    ctx = _converted(pki, jose, pwfile, tmp_path)
    other = tmp_path / "other"
    other.write_text("not the passphrase of the package\n")
    ctx.secrets = Secrets(ctx.ui, passphrase_file=other)
    with pytest.raises(CredentialError) as e:
        deliver.package(ctx)
    assert e.value.exit_code == Exit.WRONG_PASSPHRASE
    assert opened == [str(ctx.record.artifacts.package)]


def test_a_later_run_opens_the_file(pki, jose, pwfile, tmp_path, onboard_env, opened):
    ctx = _converted(pki, jose, pwfile, tmp_path)
    later, _ = make_ctx(tmp_path, pwfile=pwfile, record=ctx.record)
    deliver.package(later)
    assert opened == [str(ctx.record.artifacts.package)]
