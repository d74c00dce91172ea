"""The layers hold at run time, not only for the imports import-linter reads: `xdl verify` of
every committed artifact, in a fresh process, loads no training framework and no model or
data-set code."""

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
