"""Every port transform, proved on real layers: a Keras layer with random weights, ported into its
PyTorch counterpart, must compute the same outputs, and the weights must survive the round trip.

These are the transforms the zoo's next models need (issue: complete the reference zoo); they are
tested here on single layers so that a model built from them starts from proven pieces.
"""

import numpy as np
import pytest
import torch
from torch import nn

from xdl import backends
from xdl.errors import InputError
from xdl.port import engine

backends.load("keras")
import keras  # noqa: E402
from keras import layers  # noqa: E402

RNG = np.random.default_rng(0)


def _nwc_to_ncw(a):
    return a.transpose(0, 2, 1)


def _nhwc_to_nchw(a):
    return a.transpose(0, 3, 1, 2)


def _nchw_to_nhwc(a):
    return a.transpose(0, 2, 3, 1)


# name: (Keras layer, PyTorch module, transform, input (Keras layout), Keras input -> PyTorch input,
#        PyTorch output -> Keras layout)
CASES = {
    "conv1d": (lambda: layers.Conv1D(5, 3, padding="same"), lambda: nn.Conv1d(4, 5, 3, padding=1),
               engine.Conv1D(), lambda: RNG.normal(size=(2, 9, 4)), _nwc_to_ncw, _nwc_to_ncw),
    "embedding": (lambda: layers.Embedding(11, 6), lambda: nn.Embedding(11, 6), engine.Embedding(),
                  lambda: RNG.integers(0, 11, size=(2, 7)), lambda a: a, lambda a: a),
    "batchnorm": (lambda: layers.BatchNormalization(), lambda: nn.BatchNorm1d(4, eps=1e-3, momentum=0.01),
                  engine.BatchNorm(), lambda: RNG.normal(size=(5, 4)), lambda a: a, lambda a: a),
    "lstm": (lambda: layers.LSTM(3, return_sequences=True), lambda: nn.LSTM(4, 3, batch_first=True),
             engine.LSTM(), lambda: RNG.normal(size=(2, 7, 4)), lambda a: a, lambda a: a),
    "gru": (lambda: layers.GRU(3, return_sequences=True), lambda: nn.GRU(4, 3, batch_first=True),
            engine.GRU(), lambda: RNG.normal(size=(2, 7, 4)), lambda a: a, lambda a: a),
    "conv2d_transpose": (lambda: layers.Conv2DTranspose(5, 3, strides=2), lambda: nn.ConvTranspose2d(4, 5, 3, stride=2),
                         engine.Conv2DTranspose(), lambda: RNG.normal(size=(2, 6, 6, 4)), _nhwc_to_nchw, _nchw_to_nhwc),
}


def _build(name):
    make_keras, make_torch, transform, make_x, to_torch_in, to_keras_layout = CASES[name]
    x = make_x()
    x = x.astype(np.int64) if x.dtype.kind == "i" else x.astype(np.float32)
    layer = make_keras()
    km = keras.Sequential([keras.Input(x.shape[1:], dtype="int64" if x.dtype.kind == "i" else "float32"), layer])
    # random weights everywhere (biases and statistics too), variances positive
    weights = [RNG.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()]
    if name == "batchnorm":
        weights[3] = np.abs(weights[3]) * 0.05 + 0.01  # small variances make eps matter
    layer.set_weights(weights)
    tm = make_torch().eval()
    rule = engine.Rule("layer", "m", transform)
    return km, layer, tm, rule, x, to_torch_in, to_keras_layout


def _torch_run(tm, x):
    with torch.no_grad():
        out = tm(torch.from_numpy(np.ascontiguousarray(x)))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def _port_into(tm, rule, keras_weights):
    template = {f"m.{k}": v.numpy() for k, v in tm.state_dict().items()}
    ported = engine.keras_to_torch([rule], {"layer": keras_weights}, template)
    tm.load_state_dict({k[2:]: torch.from_numpy(np.ascontiguousarray(v)) for k, v in ported.items()}, strict=True)
    return ported


@pytest.mark.parametrize("name", list(CASES))
def test_ported_layer_computes_the_same(name):
    km, layer, tm, rule, x, to_torch_in, to_keras_layout = _build(name)
    _port_into(tm, rule, layer.get_weights())
    expected = np.asarray(km(x, training=False))
    actual = to_keras_layout(_torch_run(tm, to_torch_in(x)))
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(CASES))
def test_keras_torch_keras_is_bit_for_bit(name):
    km, layer, tm, rule, *_ = _build(name)
    original = layer.get_weights()
    ported = _port_into(tm, rule, original)
    back = engine.torch_to_keras([rule], ported, {"layer": original})["layer"]
    for a, b in zip(original, back):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_lstm_torch_keras_torch_keeps_the_function_not_the_bias_split():
    """PyTorch has two LSTM biases, Keras one: the sum survives, the split does not."""
    tm = nn.LSTM(4, 3, batch_first=True).eval()
    rule = engine.Rule("layer", "m", engine.LSTM())
    weights = {f"m.{k}": v.numpy() for k, v in tm.state_dict().items()}
    keras_shapes = {"layer": [np.zeros((4, 12)), np.zeros((3, 12)), np.zeros(12)]}
    again = engine.keras_to_torch([rule], engine.torch_to_keras([rule], weights, keras_shapes), weights)
    assert not np.array_equal(again["m.bias_hh_l0"], weights["m.bias_hh_l0"])
    np.testing.assert_array_equal(again["m.bias_ih_l0"] + again["m.bias_hh_l0"],
                                  weights["m.bias_ih_l0"] + weights["m.bias_hh_l0"])
    x = RNG.normal(size=(2, 5, 4)).astype(np.float32)
    before = _torch_run(tm, x)
    tm.load_state_dict({k[2:]: torch.from_numpy(v) for k, v in again.items()})
    np.testing.assert_allclose(_torch_run(tm, x), before, atol=1e-6)


def test_batchnorm_with_pytorch_default_eps_is_a_different_function():
    """The weights port exactly; the epsilon does not travel with them."""
    km, layer, _, rule, x, *_ = _build("batchnorm")
    default = nn.BatchNorm1d(4).eval()  # eps 1e-5
    _port_into(default, rule, layer.get_weights())
    diff = np.abs(_torch_run(default, x) - np.asarray(km(x, training=False))).max()
    assert diff > 1e-3  # far beyond any float32 tolerance: the diff tool would name this layer


def test_gru_without_reset_after_has_no_port():
    layer = layers.GRU(3, reset_after=False)
    keras.Sequential([keras.Input((7, 4)), layer])
    tm = nn.GRU(4, 3, batch_first=True)
    with pytest.raises(InputError, match="reset_after=False"):
        engine.keras_to_torch([engine.Rule("layer", "m", engine.GRU())], {"layer": layer.get_weights()},
                               {f"m.{k}": v.numpy() for k, v in tm.state_dict().items()})
