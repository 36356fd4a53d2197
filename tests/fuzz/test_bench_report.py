"""bench/report reads the other bench scripts' lines: each figure from output shaped as the script prints it,
and 'not measured' (with the reason) for a script that is missing, fails or prints something else."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

OUTPUTS = {
    "startup": "python3 -c pass    median    20.0 ms   ratio 1.00\n"
    "onboard --help     median    30.0 ms   ratio 1.50\nonboard status     median    36.0 ms   ratio 1.80\n"
    "startup ratio (worst) 1.80  target <= 2.0  OK\n",
    "demo": "round 1: 4.10 s\nonboard demo: median 4.10 s over 1 runs (target < 5 s): ok\n",
    "deliver": "rounds: 3 each, alternating, fresh ~/.globus each time\n"
    "onboard delivery : median   300.0 ms, SSH connections per delivery: 1\n"
    "OSG way (OpenSSH): median   500.0 ms, SSH connections per delivery: 2  (scp, then ssh)\n"
    "ratio onboard/OSG: 0.60\n",
    "approval": "  approval after | onboard: req   req/h    delay | baseline: req req/h delay | req ratio\n"
    "         24.0 h |           30    1.21    3 min |          1441   60.00     0 s |     0.021\n"
    "\nwaits of a day or more: 1.21 requests/hour (target <= 2); worst detection delay 3 min "
    "(target <= 1 h): OK\n",
    "orientation": '{\n  "trainees": 5,\n  "done": 5,\n  "wall_seconds": 51.2,\n'
    '  "trainee_seconds_median": 49.0,\n'
    '  "trainee_seconds_max": 50.0,\n  "sandbox_peak_rss_mib": 54.4,\n  "board_polls": 20,\n'
    '  "board_errors": 0,\n  "board_ms_median": 84,\n  "board_ms_max": 990,\n  "board_most_rows": 5,\n'
    '  "results": []\n}\n',
    "crash": "portal journey, SIGKILL: 31/32 survived (40 points in all) in 181 s\n"
    "kill points survived: 31/32 (181 s)\n",
    "fuzz": 'fuzz: {"engine": "atheris", "seconds_per_target": 10, "executions": 15015, "targets": '
    '{"pkcs12": {"executions": 3027, "ok": true}}, "failed": []}\n',
}


@pytest.fixture
def report(monkeypatch):
    loader = importlib.machinery.SourceFileLoader("bench_report", str(ROOT / "bench" / "report"))
    spec = importlib.util.spec_from_loader("bench_report", loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_report", mod)  # dataclasses look their module up
    loader.exec_module(mod)
    return mod


def _canned(report, outputs: dict[str, str], rc: int = 0):
    def run(script: str, *args: str, timeout: float):
        if script not in outputs:
            return report.Run(script, None, "", "", 0.0, f"bench/{script} does not exist yet")
        return report.Run(script, rc, outputs[script], "", 1.0)

    return run


def test_every_figure_is_read(report, monkeypatch):
    monkeypatch.setattr(report, "run", _canned(report, OUTPUTS))
    values = {f.name: (f.value, f.against) for name in OUTPUTS for f in report.STEPS[name](True)}
    assert [v for v, _ in values.values()] == [
        "1.80",
        "4.1 s",
        "0.60",
        "1",
        "1.21",
        "3 min",
        "51 s",
        "54.4 MiB",
        "84 ms",
        "31/32",
        "15,015",
    ]
    assert "polling every minute: 60.00/h" in values["Requests per hour while waiting a day for approval"][1]
    assert values["SSH connections per delivery"][1] == "OpenSSH way: 2"
    assert "up to 5/5 trainees shown" in values[
        "Board page refresh during that session (state.json, every 2 s)"][1]
    assert "portal SIGKILL: 31/32" in values["Kill points survived (SIGKILL/SIGINT, resumed to done)"][1]


def test_missing_or_garbled_scripts_are_not_measured(report, monkeypatch):
    garbled = {"demo": "Traceback (most recent call last):\nboom\n"}
    monkeypatch.setattr(report, "run", _canned(report, garbled, 1))
    crash = report.STEPS["crash"](True)[0]
    assert (crash.value, crash.against) == ("not measured", "bench/crash does not exist yet")
    demo = report.STEPS["demo"](True)[0]
    assert demo.value == "not measured" and "exit 1" in demo.against


def test_table_in_markdown(report):
    figs = [report.Figure("A | b", "1", "x", "bench/a"), report.Figure("C", "not measured", "why", "bench/c")]
    md = report.table(figs, markdown=True).splitlines()
    assert md[0] == "| Figure | Value | Against / target | Measured by |"
    assert md[2] == "| A \\| b | 1 | x | bench/a |"
    assert len(report.table(figs, markdown=False).splitlines()) == 4


def test_the_scripts_still_print_what_report_reads():
    """The lines report.py parses are still in the scripts (a format change must update both)."""
    needles = {
        "startup": "startup ratio (worst)",
        "demo": "onboard demo: median",
        "deliver": "ratio onboard/OSG:",
        "approval": "waits of a day or more:",
        "orientation": "sandbox_peak_rss_mib",
        "fuzz": '"fuzz: "',
    }
    for script, needle in needles.items():
        assert needle in (ROOT / "bench" / script).read_text(), (script, needle)
