"""The shape of the code a newcomer relies on: the import layers hold, no private name crosses a
module, both back ends offer the same interface, models are found from their specs, and no
function grows past what one screen shows."""

import ast
import inspect
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from xdl import backends
from xdl.spec import registry

PACKAGE = ROOT / "xdl"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_import_contracts_hold():
    """pyproject.toml's import-linter contracts: the layers, framework imports, verification's
    independence, no cycles. (.ci/run runs lint-imports too, before the tests.)"""
    lint = shutil.which("lint-imports", path=str(ROOT / ".venv" / "bin")) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is missing: install the dev extra (pip install -e '.[dev]')")
    r = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_no_private_name_is_used_outside_its_module():
    """In the package and in the tutorials, which learners copy from."""
    found = []
    for path in [*SOURCES, *sorted((ROOT / "tutorials").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        aliases = set()  # local names bound to xdl modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xdl"):
                for name in node.names:
                    if name.name.startswith("_") and not name.name.startswith("__"):
                        found.append(f"{path.relative_to(ROOT)}: from {node.module} import {name.name}")
                    aliases.add(name.asname or name.name)
            elif isinstance(node, ast.Import):
                aliases |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("xdl")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not found, "\n".join(found)


def _functions(path) -> dict[str, list[str]]:
    """Top-level functions of a module and their parameter names, read without importing it."""
    tree = ast.parse(path.read_text())
    return {n.name: [a.arg for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs)]
            for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("framework", registry.FRAMEWORKS)
def test_each_back_end_implements_the_protocol_with_one_signature(framework):
    """Read from the source, so that the test needs neither framework installed."""
    module = PACKAGE / "backends" / f"{framework}.py"
    have = _functions(module)
    protocol = {name: [p for p in inspect.signature(member).parameters if p != "self"]
                for name, member in vars(backends.Backend).items()
                if callable(member) and not name.startswith("_")}
    assert protocol, "Backend declares no methods"
    for name, params in protocol.items():
        assert name in have, f"backends/{framework}.py lacks {name}()"
        assert have[name][: len(params)] == params, f"backends/{framework}.py: {name}{tuple(have[name])} is not {params}"
    source = module.read_text()
    for constant in backends.Backend.__annotations__:  # WEIGHTS_FILE, EXPORT_ROUTES...
        assert f"\n{constant} = " in source, f"backends/{framework}.py lacks {constant}"


def test_models_are_discovered_from_their_specs_in_lesson_order():
    """One spec (xdl/spec/zoo/<name>.py) and one folder of twins (xdl/models/<name>/) per model."""
    specs = sorted(p.stem for p in (PACKAGE / "spec" / "zoo").glob("*.py") if p.stem != "__init__")
    folders = sorted(p.name for p in (PACKAGE / "models").iterdir() if (p / "__init__.py").is_file())
    assert sorted(registry.names()) == specs == folders
    specs = [registry.get(n) for n in registry.names()]
    assert [(s.lesson.tutorial, s.name) for s in specs] == sorted((s.lesson.tutorial, s.name) for s in specs)
    for spec in specs:
        assert (ROOT / "tutorials" / f"{spec.lesson.tutorial}.py").is_file(), f"{spec.name}: no tutorial {spec.lesson.tutorial}"


def test_no_function_is_longer_than_a_screen():
    """About 60 lines at most, argparse's wiring included: each command's parser is in its own module."""
    long = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 62:
                    long.append(f"{_module_name(path)}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_the_cli_starts_without_frameworks_or_numpy():
    """`xdl --help` imports the specs and argparse only: no framework, not even numpy."""
    code = ("import sys, xdl.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras', 'numpy')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
