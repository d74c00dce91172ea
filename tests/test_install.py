"""A fresh machine, not a fresh clone: what CI and a new user install must resolve anywhere.

A `name @ file:///tmp/...whl` line in .ci/constraints.txt once broke CI on every machine but the
one that wrote it. These tests read the install files as text; they install nothing.
"""

import re

import tomllib
from packaging.requirements import Requirement

from conftest import ROOT

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
