"""The layers hold at run time, not only for the imports import-linter reads: `xdl verify` of
every committed artifact, in a fresh process, loads no training framework and no model or
data-set code; and no import by a name built at run time (importlib) reaches a higher layer."""

import ast
import json
import subprocess
import sys

import pytest

from conftest import COMMITTED, ROOT

_PROBE = """
import json, sys
from xdl import cli
code = cli.main(["verify", sys.argv[1], "--providers", "cpu"])
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def after_verify():
    run = subprocess.run([sys.executable, "-c", _PROBE, str(COMMITTED)], capture_output=True, text=True,
                         cwd=ROOT, timeout=900)
    last = run.stdout.rstrip().rsplit("\n", 1)[-1]
    assert last.startswith("MODULES "), run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(last[len("MODULES "):])
    assert result["code"] == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return result["modules"]


def _under(modules, *roots):
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_verify_loads_no_training_framework(after_verify):
    assert _under(after_verify, "keras", "tensorflow", "torch", "tf2onnx", "xdl.backends") == []


def test_verify_loads_no_model_or_data_set_code(after_verify):
    assert _under(after_verify, "xdl.models", "xdl.data") == []


# The imports by a name known only at run time, each judged: none reaches a higher layer.
_IMPORTS_BY_VARIABLE = {
    "xdl.errors": "an optional third-party package its caller names (tensorflow, sklearn...)",
    "xdl.data": "a loader of its own _LOADERS table, all of them xdl.data modules (checked below)",
    "xdl.parity.users": "the user's own module: a factory (`xdl check`, `xdl twin`) or a port table "
                        "(`xdl twin --port-table`)",
    "xdl.backends.keras_on_torch": "in the child process, the modules defining the net's own layer classes, "
                                   "named by the parent from the net it was handed",
}


def _layers() -> list[list[str]]:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in config if c["type"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in layers]


def _layer(module: str, layers) -> int:
    """The index of the layer `module` belongs to, from the top (0: xdl.cli)."""
    found = [(len(name), i) for i, layer in enumerate(layers) for name in layer
             if module == name or module.startswith(name + ".")]
    assert found, f"{module} is in no layer of pyproject.toml"
    return max(found)[1]


def _dynamic_imports():
    """(module, line, the imported name's fixed start or None) for every importlib.import_module
    and __import__ call in xdl/."""
    for path in sorted((ROOT / "xdl").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name not in ("import_module", "__import__"):
                continue
            target = node.args[0]
            if isinstance(target, ast.JoinedStr):
                target = target.values[0]
            fixed = target.value if isinstance(target, ast.Constant) else None
            yield module, node.lineno, fixed


def test_no_import_by_name_reaches_a_higher_layer():
    layers = _layers()
    upward, by_variable = [], set()
    for module, line, fixed in _dynamic_imports():
        if fixed is None:
            by_variable.add(module)
        elif fixed.startswith("xdl.") and _layer(fixed.rstrip("."), layers) < _layer(module, layers):
            upward.append(f"{module}:{line} imports {fixed}...")
    assert upward == []
    assert by_variable == set(_IMPORTS_BY_VARIABLE), "judge the new import by a run-time name, and list it"


def test_the_data_sets_load_from_their_own_package():
    from xdl import data

    modules = [entry[0].partition(":")[0] for entry in data._LOADERS.values()]
    assert all(m.startswith("xdl.data.") for m in modules), modules
