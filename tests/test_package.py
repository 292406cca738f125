"""The package as its users see it: typed (py.typed), public names listed in ``__all__``, and
every module cheap to import (the doctests import them all; TensorFlow only when used)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import hepfm_core

PACKAGE = Path(hepfm_core.__file__).parent
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(hepfm_core.__path__, "hepfm_core.") if not m.ispkg
)
# Not (yet) held to the __all__ rule.
WITHOUT_ALL = ("hepfm_core.views.charts", "hepfm_core.views.report.")


def _defined_public_names(module: ModuleType) -> set[str]:
    """Names a module's own top-level statements bind (no imports), without a leading _."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()

    def bind(target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                bind(element)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target)
        elif isinstance(node, ast.AnnAssign):
            bind(node.target)
    return {n for n in names if not n.startswith("_")}


def test_py_typed_marker():
    assert (PACKAGE / "py.typed").is_file()


@pytest.mark.parametrize("name", [m for m in MODULES if not m.startswith(WITHOUT_ALL)])
def test_all_lists_the_public_names(name):
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    assert listed is not None, f"{name} has no __all__"
    assert len(set(listed)) == len(listed), f"{name}.__all__ repeats a name"
    missing = sorted(_defined_public_names(module) - set(listed))
    assert not missing, f"{name}.__all__ lacks {missing}"
    absent = [n for n in listed if not hasattr(module, n)]
    assert not absent, f"{name}.__all__ names what the module does not have: {absent}"


def test_every_module_imports_without_tensorflow():
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'marimo') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
