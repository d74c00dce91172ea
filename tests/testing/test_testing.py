"""xdl.testing.assert_onnx_matches: the report on a pass, AssertionError with the report's text on
any other verdict, the check's own error when no check could be made; importing it imports no
framework."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, linear_net
from xdl.errors import InputError
from xdl.testing import assert_onnx_matches


class _Noisy:
    """A forward that adds fresh noise: no export can reproduce it."""

    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def forward(self, x):
                return x + torch.rand_like(x)

        return Net()


X = np.random.default_rng(0).uniform(size=(4, 8)).astype(np.float32)


def test_importing_it_imports_no_framework():
    probe = "import sys, xdl.testing; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
            "('torch', 'tensorflow', 'keras', 'tf2onnx')))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.stdout.strip() == "[]", run.stderr[-2000:]


def test_a_pass_returns_the_report():
    report = assert_onnx_matches(linear_net(), X, providers=("cpu",))
    assert report.exit_code == 0 and report.count("pass") == 2


@pytest.mark.parametrize("model, options, says", [
    (_Noisy.build, {}, "FAIL "),
    (lambda: linear_net(zero=True), {}, "nothing meaningful was compared"),
    (linear_net, {"providers": ("cpu", "cuda"), "required": ("cuda",)}, "exit 3"),
])
def test_any_other_verdict_raises_with_the_report(model, options, says):
    if "required" in options and __import__("xdl.verify").verify.provider_status("cuda")[0]:
        pytest.skip("CUDA runs here: nothing is missing")
    with pytest.raises(AssertionError) as info:
        assert_onnx_matches(model(), X, **{"providers": ("cpu",), **options})
    text = str(info.value)
    assert says in text and "verify: " in text and ("Linear/torch" in text or "Net/torch" in text)


def test_a_check_that_cannot_be_made_raises_its_own_error():
    with pytest.raises(InputError, match="example input input_0 is a list"):
        assert_onnx_matches(linear_net(), [[1.0] * 8], providers=("cpu",))
