"""The shape of onboard's code: the import-linter contracts of pyproject.toml hold, every top-level module
has its layer, no import cycle (imports inside functions and under TYPE_CHECKING count), no product module
over 500 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

grimp = pytest.importorskip("grimp", reason="import-linter (test extras) brings grimp")

ROOT = Path(__file__).resolve().parents[1]

MAX_LINES = 500


def _graph():
    return grimp.build_graph("onboard", cache_dir=None, exclude_type_checking_imports=False)


def test_import_contracts_hold():
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"import-linter: a contract of pyproject.toml is broken\n{r.stdout}\n{r.stderr}"


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return next(c for c in config["tool"]["importlinter"]["contracts"] if c.get("id") == contract_id)


def test_every_top_level_module_has_a_layer():
    """A module in no layer would be free to import anything: each new one must be placed."""
    placed = set()
    for layer in _contract("layers")["layers"]:
        for name in layer.replace(":", "|").split("|"):
            placed.add(name.strip().strip("()"))
    top = {m for m in _graph().find_children("onboard")}
    assert sorted(top - placed) == [], "add these to a layer of [tool.importlinter] in pyproject.toml"


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in imports[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in imports:
        if module not in index:
            visit(module)
    return found


def _describe(graph, component: list[str]) -> str:
    lines = [" <-> ".join(component)]
    for a in component:
        for b in sorted(graph.find_modules_directly_imported_by(a)):
            if b in component:
                for d in graph.get_import_details(importer=a, imported=b):
                    lines.append(f"    {a} -> {b}  (line {d['line_number']}: {d['line_contents']})")
    return "\n".join(lines)


def test_no_import_cycles():
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_describe(graph, c) for c in cycles)


def test_the_cycle_finder_sees_imports_inside_functions(tmp_path, monkeypatch):
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyc import a\n")
    (pkg / "c.py").write_text("from cyc import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyc", cache_dir=None)
    assert _cycles(graph) == [["cyc.a", "cyc.b"]]
    assert "line 2: from cyc import a" in _describe(graph, ["cyc.a", "cyc.b"])


def test_no_product_module_over_500_lines():
    sizes = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in (ROOT / "onboard").rglob("*.py")
    }
    over = {p: n for p, n in sizes.items() if n > MAX_LINES}
    assert not over, f"split these along an idea: {over}"
