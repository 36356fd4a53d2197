"""Workflow files: the shipped ones validate; broken ones give an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from onboard import steps, workflow
from onboard.errors import Exit, WorkflowError

GOOD = Path(workflow.workflows_dir()) / "voms-admin.toml"


def test_shipped_workflows_validate():
    names = workflow.available()
    assert "voms-admin" in names
    for name in names:
        wf = workflow.load(name, steps.names())
        assert any(st.final and not st.parent for st in wf.states.values())


def test_voms_admin_runs_delivery_beside_registration():
    wf = workflow.load("voms-admin", steps.names())
    regions = wf.states["enrol"].regions
    assert "deliver" in regions["host"] and "await_approval" in regions["vo"]
    assert wf.main_transition("verify").dest == "done"
    assert {t.dest for t in wf.outgoing("await_approval")} == {"approved", "rejected", "expired"}


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = GOOD.read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old,new,expect",
    [
        ('step = "convert"', 'step = "transmogrify"', "transitions[1].step: unknown step 'transmogrify'"),
        ('dest = "convert"', 'dest = "nowhere"', "transitions[0].dest: unknown state 'nowhere'"),
        (
            '[states.done]\ndescription = "A working VO credential on the submit host"\nfinal = true',
            '[states.done]\ndescription = "A working VO credential on the submit host"\nfinal = true\n\n'
            '[states.limbo]\ndescription = "never reached"\nfinal = true',
            "states.limbo: unreachable",
        ),
        (
            '[[transitions]]\ntrigger = "approved"\nsource = "await_approval"\ndest = "approved"\n'
            'step = "await_approval"',
            "",
            "states.await_approval: a wait with no way out",
        ),
        ('initial = "obtain"', 'initial = "register"', "workflow.initial"),
        (
            'description = "Run voms-proxy-init on the submit host"',
            'descripton = "typo"',
            "states.verify.descripton: unknown key",
        ),
        ("[workflow]", "[workflow\n", "not valid TOML"),
        pytest.param("[workflow]", "deep = " + "[" * 50_000 + "\n[workflow]", "nested too deep", id="deep"),
    ],
)
def test_broken_workflows(tmp_path, old, new, expect):
    path = broken(tmp_path, old, new)
    with pytest.raises(WorkflowError) as err:
        workflow.load(path, steps.names())
    assert str(path) in err.value.message
    assert expect in err.value.message
    assert err.value.exit_code == Exit.WORKFLOW


def test_no_terminal_state(tmp_path):
    path = tmp_path / "loop.toml"
    path.write_text('[workflow]\nname = "loop"\ninitial = "a"\n[states.a]\ndescription = "A"\n'
                    '[states.b]\ndescription = "B"\n'
                    '[[transitions]]\ntrigger = "x"\nsource = "a"\ndest = "b"\nstep = "obtain"\n'
                    '[[transitions]]\ntrigger = "y"\nsource = "b"\ndest = "a"\nstep = "convert"\n')
    with pytest.raises(WorkflowError, match="no terminal state"):
        workflow.load(path, steps.names())


def test_cli_validates_a_file(cli, tmp_path):
    bad = broken(tmp_path, 'step = "convert"', 'step = "nope"')
    res = cli("workflows", str(bad))
    assert res.returncode == Exit.WORKFLOW
    assert "unknown step 'nope'" in res.stderr and "Traceback" not in res.stderr
