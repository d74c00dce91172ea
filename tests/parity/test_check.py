"""xdl.check on models the tests define themselves (not from the zoo), in both backends."""

import numpy as np
import pytest

import xdl
from xdl.errors import InputError, ParityError
from xdl.spec import Tolerance


def _torch_net():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))


class _TwoInputs:
    """A module with two inputs and two outputs (built lazily so collection imports no torch)."""

    @staticmethod
    def build():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = nn.Linear(4, 3), nn.Linear(6, 3)

            def forward(self, x, z):
                h = torch.tanh(self.a(x) + self.b(z))
                return torch.softmax(h, dim=-1), h.sum(dim=-1, keepdim=True)

        torch.manual_seed(1)
        return Net()


def _keras_net(activation="tanh"):
    from xdl import backends

    backends.load("keras")
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation=activation),
                             keras.layers.LayerNormalization(), keras.layers.Dense(3, activation="softmax")])


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def test_torch_module_passes_on_cpu_at_two_batch_sizes():
    report = xdl.check(_torch_net(), _rand(6, 3, 16, 16), providers=("cpu",))
    assert report.exit_code == 0
    assert [c.batch_size for c in report.checks] == [1, 6]
    assert all(c.status == "pass" and c.framework == "torch" and c.max_abs <= 1e-4 for c in report.checks)
    assert report.checks[0].atol == 1e-4  # the policy's number for logits on CPU


def test_two_inputs_two_outputs():
    report = xdl.check(_TwoInputs.build(), (_rand(5, 4), _rand(5, 6, seed=1)), providers=("cpu",), kind="regression")
    assert {c.output for c in report.checks} == {"output_0", "output_1"}
    assert report.exit_code == 0


def test_keras_model_passes():
    report = xdl.check(_keras_net(), _rand(4, 12), providers=("cpu",), kind="probabilities")
    assert report.exit_code == 0 and all(c.framework == "keras" for c in report.checks)
    assert all(c.argmax_agree == c.argmax_total for c in report.checks)


def test_an_export_the_exporter_gets_wrong_is_one_clear_error():
    """tf2onnx 1.17 cannot convert Keras 3's GELU (TensorFlow's Erfc op): the check says so."""
    with pytest.raises(InputError, match="invalid.*Erfc"):
        xdl.check(_keras_net("gelu"), _rand(4, 12), providers=("cpu",))


def test_a_tolerance_tighter_than_float32_fails_with_the_report():
    exact = Tolerance(0.0, 0.0, "demands bit equality, which float32 on two runtimes cannot give")
    with pytest.raises(ParityError) as info:
        xdl.check(_torch_net(), _rand(6, 3, 16, 16), providers=("cpu",), tolerance_override=exact)
    assert info.value.exit_code == 1 and "beyond atol 0" in str(info.value)
    report = xdl.check(_torch_net(), _rand(6, 3, 16, 16), providers=("cpu",), tolerance_override=exact,
                       raise_on_failure=False)
    assert report.exit_code == 1 and report.count("fail") >= 1


@pytest.mark.skipif(__import__("xdl.verify").verify.provider_status("cuda")[0],
                    reason="this machine has CUDA")
def test_cuda_is_skipped_here_or_required():
    report = xdl.check(_torch_net(), _rand(2, 3, 8, 8), providers=("cpu", "cuda"))
    assert any(c.provider == "cuda" and c.status == "skipped" for c in report.checks)
    with pytest.raises(ParityError) as info:
        xdl.check(_torch_net(), _rand(2, 3, 8, 8), providers=("cpu",), required=("cuda",))
    assert info.value.exit_code == 3


@pytest.mark.parametrize("inputs,message", [
    (np.zeros((2, 3, 8, 8)), "float64"),
    (np.full((2, 3, 8, 8), np.nan, np.float32), "NaN"),
    ([1, 2, 3], "numpy"),
    ((np.zeros((2, 3, 8, 8), np.float32), np.zeros((3, 4), np.float32)), "batch size"),
])
def test_bad_example_inputs(inputs, message):
    with pytest.raises(InputError, match=message):
        xdl.check(_torch_net(), inputs)


def test_not_a_model():
    with pytest.raises(InputError, match="torch.nn.Module or a keras.Model"):
        xdl.check(object(), _rand(1, 3))
