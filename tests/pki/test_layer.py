"""onboard.pki and onboard.atomicfile are the bottom layer: the sandbox and every other part import them,
they import nothing of onboard but onboard.errors (and the atomic writer)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import onboard

ROOT = Path(onboard.__file__).parent
ALLOWED = {"onboard.errors", "onboard.atomicfile", "onboard.pki"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_pki_imports_only_the_standard_library_cryptography_and_errors():
    for path in [*sorted((ROOT / "pki").glob("*.py")), ROOT / "atomicfile.py"]:
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "onboard":
                assert any(name == a or name.startswith(a + ".") for a in ALLOWED), f"{path.name}: {name}"
            else:
                assert top in sys.stdlib_module_names or top == "cryptography", f"{path.name}: {name}"


def test_atomicfile_is_standard_library_only():
    assert {n.split(".")[0] for n in _imports(ROOT / "atomicfile.py")} <= {"__future__", "os", "pathlib"}
