"""The registrar table: one registrar per registration service, the same names everywhere a service is
named, and no step or module telling the services apart by name (no server processes: fast)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from onboard import catalog, config, registration
from onboard.errors import ConfigError
from onboard.registration.registrar import Mode, Registrar

ONBOARD = Path(registration.__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", sorted(registration.REGISTRARS))
def test_each_service_has_its_registrar(kind):
    registrar = registration.get(kind)
    assert isinstance(registrar, Registrar) and registrar.kind == kind
    # onboard sends the request itself, except where the service wants a browser login first
    assert registrar.mode is (Mode.GUIDES if kind in catalog.GUIDED.values() else Mode.SUBMITS)
    assert registrar.link_rule.reportable  # a refused look-alike of its confirmation link is reported


def test_the_services_are_named_alike_in_catalog_config_and_table():
    assert set(registration.REGISTRARS) == set(catalog.KINDS) | set(catalog.GUIDED.values())
    assert set(catalog.KINDS) == set(get_args(config.VOEntry.model_fields["kind"].annotation))
    assert set(catalog.REGISTRATIONS) == set(get_args(config.VOEntry.model_fields["registration"].annotation))
    assert {kind for kind, _ in catalog.GUIDED} <= set(catalog.KINDS)


def test_an_unknown_service_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown registration service 'voms'"):
        registration.get("voms")


def test_no_module_tells_the_services_apart_by_name():
    """A new service is a registrar in the table, not a branch: `kind == "iam"` has no place in onboard/."""
    names = "|".join(re.escape(k) for k in registration.REGISTRARS)
    branch = re.compile(rf"""(==|!=)\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    found = [
        f"{path.relative_to(ONBOARD)}:{n}: {line.strip()}"
        for path in sorted(ONBOARD.rglob("*.py"))
        if "sandbox" not in path.relative_to(ONBOARD).parts  # the imitation servers are each one service
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if branch.search(line)
    ]
    assert not found, found
