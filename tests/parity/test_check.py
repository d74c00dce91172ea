"""xdl.check on models the tests define themselves (not from the zoo), in both backends."""

import re

import numpy as np
import pytest

import xdl
from xdl.errors import EXIT_ENVIRONMENT, InputError, NothingCompared, ParityError
from xdl.spec import Tolerance, tolerance


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


class _Structured:
    """Modules returning what real models return: a dict (torchvision segmentation's
    OrderedDict), a dict subclass with None fields (transformers' ModelOutput), nested tuples,
    integer and bool outputs (an argmax, a mask)."""

    @staticmethod
    def build(shape: str):
        import collections

        import torch
        from torch import nn

        class Output(collections.OrderedDict):  # what transformers' ModelOutput is: a dict subclass
            pass

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body, self.head = nn.Linear(4, 6), nn.Linear(6, 3)

            def forward(self, x):
                h = torch.tanh(self.body(x))
                logits = self.head(h)
                if shape == "dict":
                    return collections.OrderedDict(out=logits, aux=h)
                if shape == "output object":
                    return Output(last_hidden_state=h, pooler_output=None, logits=logits)
                if shape == "nested":
                    return logits, (h, {"mask": h > 0})
                return logits, logits.argmax(-1)  # "integers"

        torch.manual_seed(2)
        return Net()


@pytest.mark.parametrize("shape, names", [
    ("dict", ["out", "aux"]),
    ("output object", ["last_hidden_state", "logits"]),  # None fields are not outputs
    ("nested", ["output_0", "output_1.0", "output_1.1.mask"]),
    ("integers", ["output_0", "output_1"]),
])
def test_outputs_of_any_structure_are_named_and_compared(shape, names):
    report = xdl.check(_Structured.build(shape), _rand(5, 4), providers=("cpu",))
    assert report.exit_code == 0, [c.detail for c in report.checks]
    assert [c.output for c in report.checks if c.batch_size == 5] == names
    exact = [c for c in report.checks if c.output in ("output_1", "output_1.1.mask")]
    assert all(c.atol == c.rtol == 0 and "exactly" in c.detail for c in exact)  # ints and bools: no tolerance


class _Tokens:
    """A token model taking keywords, as transformers' do (a second positional parameter that is
    not the mask, GPT-2's past_key_values, is why inputs go by name)."""

    @staticmethod
    def build():
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed, self.head = nn.Embedding(20, 4), nn.Linear(4, 3)

            def forward(self, input_ids, past_key_values=None, attention_mask=None):
                h = self.embed(input_ids) * attention_mask.unsqueeze(-1)
                return {"logits": self.head(h), "pooled": h.sum(1)}

        torch.manual_seed(3)
        return Net()


def _tokens(batch=3, length=7):
    rng = np.random.default_rng(0)
    return {"input_ids": rng.integers(0, 20, (batch, length)).astype(np.int64),
            "attention_mask": (rng.random((batch, length)) < 0.8).astype(np.float32)}


def test_inputs_by_name_with_a_dynamic_length():
    net = _Tokens.build().train()
    report = xdl.check(net, _tokens(), providers=("cpu",), dynamic={"input_ids": 1, "attention_mask": 1})
    assert report.exit_code == 0, [c.detail for c in report.checks]
    # batch 1, batch 3, and batch 3 one token shorter: the length is dynamic in the graph
    assert [(c.output, c.batch_size, c.shape) for c in report.checks] == [
        ("logits", 1, [1, 7, 3]), ("pooled", 1, [1, 4]), ("logits", 3, [3, 7, 3]), ("pooled", 3, [3, 4]),
        ("logits", 3, [3, 6, 3]), ("pooled", 3, [3, 4])]
    assert net.training  # put back in the mode it was in
    assert not xdl.check(net.eval(), _tokens(), providers=("cpu",)).exit_code and not net.training


def test_a_length_not_declared_dynamic_is_fixed():
    report = xdl.check(_Tokens.build(), _tokens(), providers=("cpu",))
    assert [c.shape for c in report.checks if c.output == "logits"] == [[1, 7, 3], [3, 7, 3]]


@pytest.mark.parametrize("dynamic, message", [
    ({"input_id": 1}, "no input is named 'input_id'"),
    ({"input_ids": 0}, "axis 0, the batch, is always dynamic"),
    ({"input_ids": 2}, "give an axis from 1 to 1"),
])
def test_bad_dynamic_axes(dynamic, message):
    with pytest.raises(InputError, match=re.escape(message)):
        xdl.check(_Tokens.build(), _tokens(), providers=("cpu",), dynamic=dynamic)


class _Dtypes:
    @staticmethod
    def build():
        import torch
        from torch import nn

        class Net(nn.Module):
            def forward(self, x, n, flag, half):
                y = x * 2 + n.to(x.dtype)
                return y, torch.where(flag, y, -y), half * 3 + 1

        return Net()


def test_inputs_of_every_dtype():
    rng = np.random.default_rng(4)
    inputs = (rng.random((4, 3)), rng.integers(-5, 5, (4, 3)).astype(np.int32), rng.random((4, 3)) < 0.5,
              rng.random((4, 3)).astype(np.float16))
    report = xdl.check(_Dtypes.build(), inputs, providers=("cpu",))
    assert report.exit_code == 0, [c.detail for c in report.checks]
    half = [c for c in report.checks if c.output == "output_2"]
    policy = tolerance.tolerance_for("float16", "cpu", "logits").pair
    assert half and all((c.atol, c.rtol) == policy for c in half)  # a float16 output: the float16 row


def test_keras_inputs_by_name():
    from xdl import backends

    backends.load("keras")
    import keras

    keras.utils.set_random_seed(0)
    ids, mask = keras.Input((None,), name="input_ids", dtype="int64"), keras.Input((None,), name="attention_mask")
    h = keras.layers.Embedding(20, 4)(ids) * keras.ops.expand_dims(mask, -1)
    net = keras.Model({"input_ids": ids, "attention_mask": mask}, keras.layers.Dense(3)(keras.ops.sum(h, 1)))
    report = xdl.check(net, _tokens(), providers=("cpu",), dynamic={"input_ids": 1, "attention_mask": 1})
    assert report.exit_code == 0 and len(report.checks) == 3, [c.detail for c in report.checks]


def test_keras_model_passes():
    report = xdl.check(_keras_net(), _rand(4, 12), providers=("cpu",), kind="probabilities")
    assert report.exit_code == 0 and all(c.framework == "keras" for c in report.checks)
    assert all(c.argmax_agree == c.argmax_total for c in report.checks)


def test_an_export_the_exporter_gets_wrong_is_one_clear_error():
    """tf2onnx 1.17 cannot convert Keras 3's GELU (TensorFlow's Erfc op): the check says so."""
    with pytest.raises(InputError, match="invalid.*Erfc.*an op ONNX does not define: the exporter's limit, not the model's"):
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


def _torch_head(scale: float):
    """A small classifier whose head is scaled by `scale`: 0 is a zero-initialised head (ViT's), 1e-16
    the ~1e-16 outputs that fresh BatchNorm statistics gave MobileNetV3 and EfficientNet."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        net[3].weight.mul_(scale)
        net[3].bias.mul_(scale)
    return net


@pytest.mark.parametrize("scale", [0.0, 1e-16])
def test_outputs_below_the_tolerance_are_nothing_compared(scale):
    report = xdl.check(_torch_head(scale), _rand(5, 6), providers=("cpu",), raise_on_failure=False)
    assert report.exit_code == EXIT_ENVIRONMENT and {c.status for c in report.checks} == {"empty"}
    assert all("an output of zeros would pass" in c.detail and c.max_expected <= 1e-15 for c in report.checks)
    with pytest.raises(NothingCompared, match="nothing meaningful was compared") as info:
        xdl.check(_torch_head(scale), _rand(5, 6), providers=("cpu",))
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert xdl.check(_torch_head(1.0), _rand(5, 6), providers=("cpu",)).exit_code == 0  # the same net, trained-like


def test_identical_rows_are_nothing_compared():
    """Every sample the same: one row carries signal (batch 1 passes), the batch of them does not."""
    report = xdl.check(_torch_net(), np.repeat(_rand(1, 3, 8, 8), 4, axis=0), providers=("cpu",),
                       raise_on_failure=False)
    assert [(c.batch_size, c.status) for c in report.checks] == [(1, "pass"), (4, "empty")]
    assert "all 4 rows of the expected output are the same" in report.checks[1].detail


def _keras_embedding():
    from xdl import backends

    backends.load("keras")
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), keras.layers.Embedding(50, 4),
                             keras.layers.Bidirectional(keras.layers.LSTM(3)), keras.layers.Dense(2)])


def test_floats_that_collapse_to_one_id_are_nothing_compared():
    """The Keras Embedding casts its float input: values in [0, 1) all become id 0."""
    report = xdl.check(_keras_embedding(), _rand(3, 6), providers=("cpu",), raise_on_failure=False)
    assert report.exit_code == EXIT_ENVIRONMENT and [c.status for c in report.checks] == ["empty"]
    assert "casts input input_0 to integers, and every value given becomes 0" in report.checks[0].detail


@pytest.mark.parametrize("inputs,message", [
    (np.zeros((2, 3, 8, 8), np.uint16), "uint16"),
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
