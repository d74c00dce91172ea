"""xdl twin on attention: Keras MultiHeadAttention and PyTorch nn.MultiheadAttention paired and
ported without a table (xdl/port/engine.py's MultiHeadAttention), and LayerNorm's epsilon named."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")

pytestmark = pytest.mark.timeout(300)


def _pair(keras_epsilon: float):
    import keras
    import torch
    from torch import nn

    x = keras.Input((5, 8))
    y = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attn")(x, x)
    y = keras.layers.LayerNormalization(epsilon=keras_epsilon, name="norm")(y + x)
    keras_model = keras.Model(x, keras.layers.Dense(3, name="out")(y), name="encoder")

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.norm = nn.LayerNorm(8)  # eps 1e-5, PyTorch's default
            self.out = nn.Linear(8, 3)

        def forward(self, x):
            attended, _ = self.attn(x, x, x, need_weights=False)
            return self.out(self.norm(attended + x))

    torch.manual_seed(0)
    return keras_model, Encoder()


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).normal(size=(3, 5, 8)).astype(np.float32)


@pytest.mark.parametrize("source", ["keras", "torch"])
def test_attention_is_paired_and_ported_both_ways(x, source):
    import xdl

    report = xdl.twin(*_pair(1e-5), x, source=source)
    assert report.exit_code == 0, report.render()
    assert [(r.keras, r.torch, r.kind) for r in report.layers] == [
        ("attn", "attn", "mha"), ("norm", "norm", "layernorm"), ("out", "out", "dense")]


def test_layernorm_epsilon_is_named_where_the_models_part(x):
    import xdl

    report = xdl.twin(*_pair(1e-3), x)  # Keras's default epsilon against PyTorch's
    assert report.exit_code == 1 and (report.first.keras, report.first.torch) == ("norm", "norm"), report.render()
    assert report.explanation == ["epsilon: Keras 'norm' 0.001, PyTorch 'norm' 1e-05: give PyTorch eps=0.001"]
