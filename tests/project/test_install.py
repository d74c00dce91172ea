"""A fresh machine, not a fresh clone: what CI and a new user install must resolve anywhere.

A `name @ file:///tmp/...whl` line in .ci/constraints.txt once broke CI on every machine but the
one that wrote it. These tests read the install files as text; they install nothing.

The core install (`pip install .`, no extras, what the README recommends for CI) once ended six
commands with "unexpected ModuleNotFoundError ... this is a bug in xdl": every command is run
under it here, simulated by making every module that only an extra brings unimportable, and in
a real core environment where there is one (.ci/run makes .venv-core before the tests).
"""

import os
import re
import subprocess
import sys
from importlib import metadata

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT
from xdl import cli, errors

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.]*$")  # name==version, nothing else
# Where a path of the writing machine shows up: file URLs, absolute paths of the usual roots.
MACHINE_PATH = re.compile(r"file://|(?<![\w.~])/(tmp|root|home|work|opt|var|mnt|Users)/")


def _constraint_lines():
    text = (ROOT / ".ci" / "constraints.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_constraints_are_plain_pins_from_the_index():
    lines = _constraint_lines()
    assert lines, "constraints.txt pins nothing"
    bad = [line for line in lines if not PIN.match(line)]
    assert not bad, f"not a name==version pin from the package index: {bad}"


def test_the_pin_rule_catches_what_broke_ci():
    for line in ("safetensors @ file:///tmp/dl/safetensors-0.8.0.whl", "torch==2.13.0+cpu",
                 "xdl @ git+https://example.org/xdl", "-e .", "numpy>=1.26", "./wheels/a.whl"):
        assert not PIN.match(line), line
    assert MACHINE_PATH.search("safetensors @ file:///tmp/dl/x.whl")
    assert MACHINE_PATH.search("cd /work/main && xdl all")


def test_constraints_cover_every_extra_that_ci_installs():
    """Every requirement of pyproject's extras (for Linux x86_64, CI's platform) is pinned: an
    unpinned one takes whatever the index serves that day (onnxconverter-common once did)."""
    pinned = {Requirement(line).name.lower().replace("_", "-") for line in _constraint_lines()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = {"sys_platform": "linux", "platform_machine": "x86_64"}
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "gpu":  # onnxruntime-gpu replaces onnxruntime on a GPU machine; CI has none
            wanted += [Requirement(r) for r in requirements]
    missing = {r.name for r in wanted if r.name != "xdl" and (r.marker is None or r.marker.evaluate(env))
               and r.name.lower().replace("_", "-") not in pinned}
    assert not missing, f"not pinned in .ci/constraints.txt: {sorted(missing)}"


def test_pyproject_requirements_name_no_url_or_path():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *(r for rs in project["optional-dependencies"].values() for r in rs)]
    for text in requirements:
        assert Requirement(text).url is None, text


def test_nothing_names_a_path_of_this_machine():
    files = [ROOT / "pyproject.toml", ROOT / "README.md", *sorted((ROOT / ".ci").iterdir())]
    found = [f"{f.name}:{n}: {line.strip()}" for f in files for n, line in enumerate(f.read_text().splitlines(), 1)
             if MACHINE_PATH.search(line) and not line.startswith("#!")]
    assert not found, found


# --- the core install --------------------------------------------------------------------------

USER_MODEL = "import torch\n\ndef build():\n    return torch.nn.Linear(4, 2)\n"


def _copy_of_mlp(tmp) -> str:
    import shutil

    copy = f"{tmp}/committed"
    if not os.path.exists(f"{copy}/mlp/torch"):
        shutil.copytree(ROOT / "exported_models" / "mlp" / "torch", f"{copy}/mlp/torch")
    return copy


def _arguments(tmp) -> dict[str, list[list[str]]]:
    """Minimal valid arguments for every command (and the modes that take other code paths):
    what a user of a core install would type first. Writes go under `tmp`."""
    models = str(ROOT / "exported_models")
    return {
        "list": [[]],
        "doctor": [[]],
        "differences": [[]],
        "tutorials": [["01", "--dir", str(ROOT / "tutorials"), "--out", f"{tmp}/notebooks"]],
        "site": [["--out", f"{tmp}/site"]],
        "train": [["mlp", "--quick", "--runs", f"{tmp}/runs"],
                  ["mlp", "--framework", "torch", "--workers", "2", "--quick", "--runs", f"{tmp}/runs"]],
        "export": [["mlp", "--runs", f"{tmp}/runs", "--out", f"{tmp}/out"],
                   ["--check", "mlp", "--out", models],
                   ["--variant", "fp16", "mlp", "--framework", "torch", "--out", models],
                   ["--variant", "int8-static", "mlp", "--framework", "torch", "--out", models]],
        # the modes (issue 27); refresh rewrites in place, so a copy of a committed artifact
        "export check": [["mlp", "--out", models]],
        "export refresh": [["mlp", "--out", _copy_of_mlp(tmp)]],
        "export variant": [["fp16", "mlp", "--framework", "torch", "--out", models]],
        "verify": [[f"{models}/mlp/torch", "--providers", "cpu", "--batch-sizes", "1"],
                   [f"{models}/mlp/torch", "--providers", "cpu", "--live", "mlp", "--out", models]],
        "port": [["mlp", "--from", "keras", "--out", models, "--output", f"{tmp}/ported.safetensors"]],
        "parity": [["mlp", "--out", models, "--providers", "cpu"], ["mlp", "--train-steps", "1"]],
        "parity steps": [["mlp", "--steps", "1"]],
        "diff": [["mlp", "--out", models]],
        "check": [["user_model:build", "--input-shape", "1,4", "--providers", "cpu"]],
        # a port table is loaded first: its module's missing framework is exit 3 too
        "twin": [["user_model:build", "user_model:build", "--input-shape", "2,4"],
                 ["user_model:build", "user_model:build", "--input-shape", "2,4", "--port-table", "user_model"]],
        "bench": [["mlp", "--quick", "--out", models, "--providers", "cpu"]],
        "routes": [["mlp", "--quick", "--out", models]],
        "scaling": [["mlp", "--epochs", "1"]],
        "all": [["mlp", "--quick", "--runs", f"{tmp}/runs", "--out", f"{tmp}/out", "--providers", "cpu"]],
        # signing (issue 26's item 4) is built on a branch of its own; ready for when it joins
        "sign": [[f"{tmp}/out/mlp/torch", "--key", f"{tmp}/key.pem"]],
    }


def _commands() -> list[str]:
    sub = next(a for a in cli.parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_every_command_has_core_install_arguments(tmp_path):
    """A new command is run under the core install as soon as it exists: it needs arguments here."""
    missing = set(_commands()) - set(_arguments(tmp_path))
    assert not missing, f"give {sorted(missing)} minimal arguments in _arguments()"


def _closure(requirements: list[str]) -> set[str]:
    """The installed distributions that `requirements` pull in, their own requirements included."""
    seen, todo = set(), list(requirements)
    while todo:
        r = Requirement(todo.pop())
        name = canonicalize_name(r.name)
        if name in seen or name == "xdl" or (r.marker is not None and not r.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += metadata.requires(r.name) or []
        except metadata.PackageNotFoundError:  # not installed here: nothing of it to hide
            pass
    return seen


def _extras_only_modules() -> set[str]:
    """The top-level modules of what pyproject's extras install and the core does not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for name, rs in project["optional-dependencies"].items() if name != "gpu" for r in rs]
    only = _closure(extras) - _closure(project["dependencies"])
    return {module for module, dists in metadata.packages_distributions().items()
            if module.isidentifier() and dists and all(canonicalize_name(d) in only for d in dists)}


# Installed first on the path of the command's interpreter (and of the processes it starts):
# every import of an extras-only module fails as it would where the module is not installed.
SITECUSTOMIZE = """import sys

BLOCKED = frozenset({blocked!r})


class CoreInstall:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, CoreInstall())
"""


def _core_pythons():
    real = os.environ.get("XDL_CORE_PYTHON") or str(ROOT / ".venv-core" / "bin" / "python")
    return [pytest.param("simulated", id="simulated"),
            pytest.param(real, id="core-venv", marks=pytest.mark.skipif(
                not os.path.exists(real), reason=f"no core-only environment at {real} (.ci/run makes one)"))]


@pytest.fixture(scope="module")
def blocked():
    modules = _extras_only_modules()
    assert {"torch", "tensorflow", "keras", "onnxscript", "onnx_ir"} <= modules, sorted(modules)
    assert not {"numpy", "onnx", "onnxruntime", "xdl"} & modules
    return modules


def _run_core(python: str, blocked: set[str], args: list[str], tmp_path) -> subprocess.CompletedProcess:
    (tmp_path / "user_model.py").write_text(USER_MODEL)
    path = [str(ROOT)]
    if python == "simulated":
        site = tmp_path / "core-site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=sorted(blocked)))
        path.insert(0, str(site))
        python = sys.executable
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("XDL_DEBUG", None)
    return subprocess.run([python, "-m", "xdl", *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)


def test_the_simulation_hides_what_only_an_extra_brings(blocked, tmp_path):
    code = "import numpy, onnx, onnxruntime, xdl.cli\ntry:\n    import torch\nexcept ModuleNotFoundError as e:\n" \
           "    print('missing', e.name)"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=sorted(blocked)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"})
    assert r.stdout.strip() == "missing torch", r.stderr


@pytest.mark.parametrize("python", _core_pythons())
@pytest.mark.parametrize("command", _commands())
def test_every_command_under_the_core_install_works_or_names_the_extra(command, python, blocked, tmp_path):
    """Exit 0, or exit 3 with the `pip install 'xdl[...]'` that completes the environment; never
    "unexpected ... bug in xdl", never a traceback."""
    for args in _arguments(tmp_path)[command]:
        r = _run_core(python, blocked, [command, *args], tmp_path)
        said = f"xdl {command} {' '.join(args)} -> exit {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-2000:]}"
        assert "Traceback" not in r.stderr and "bug in xdl" not in r.stderr + r.stdout, said
        assert r.returncode in (0, 3), said
        if r.returncode == 3:  # one line per thing missing (`all` names tf and torch, one a line)
            assert any("pip install " in line for line in r.stderr.splitlines()), said
            assert len([line for line in r.stderr.splitlines() if line.startswith("xdl: error:")]) <= 1, said


def test_every_optional_module_names_an_extra_that_installs_it():
    """errors.OPTIONAL's advice is right: each distribution it names is in the extra it names
    (or pulled in by one of that extra's requirements)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for module, (distribution, names) in errors.OPTIONAL.items():
        for extra in names:
            assert canonicalize_name(distribution) in {canonicalize_name(Requirement(r).name) for r in extras[extra]}, \
                (module, extra)


def test_a_missing_optional_module_is_exit_3_naming_its_extra_wherever_it_is_met():
    """The backstop: a ModuleNotFoundError of an extra's module that reached the CLI's boundary
    unconverted is still the environment to complete, with the command that does it; a part of
    an installed package missing (a broken install) or a user's own module is not."""
    for module, (_, extras) in errors.OPTIONAL.items():
        message, code = cli.explain(ModuleNotFoundError(f"No module named {module!r}", name=module))
        assert code == errors.EXIT_ENVIRONMENT and f"pip install 'xdl[{extras[0]}]'" in message, (module, message)
    for name in ("torch._C", "mypackage"):
        message, code = cli.explain(ModuleNotFoundError(f"No module named {name!r}", name=name))
        assert code == errors.EXIT_INPUT and "pip install" not in message, message


def test_doctor_says_what_each_missing_extra_is_for_and_how_to_install_it():
    """On a core install doctor is the diagnosis (exit 0): one warning per extra that lacks a
    distribution, with its install line; nothing when all are there."""
    from xdl.tools import doctor

    nothing = doctor.missing_extras({})
    extras = {extras[0] for _, extras in errors.OPTIONAL.values()}
    assert len(nothing) == len(extras) and all(f.level == "warning" for f in nothing)
    for extra in extras:
        assert any(f"pip install 'xdl[{extra}]'" in f.message for f in nothing), extra
    everything = {distribution: "1.0" for distribution, _ in errors.OPTIONAL.values()}
    assert doctor.missing_extras(everything) == []
    only_torch_missing = doctor.missing_extras({**everything, "torch": None})
    assert [f.message.split(" (")[0] for f in only_torch_missing] == ["not installed: torch"]
