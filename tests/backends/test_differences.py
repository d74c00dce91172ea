"""The differences table: every row is read from the installed libraries, and every row's claim,
about both frameworks and about how xdl reconciles them, is checked here against the real code."""

import numpy as np
import pytest
import torch
from torch import nn

from conftest import ROOT
from xdl import backends, models
from xdl.backends import differences
from xdl.port import engine
from xdl.spec import optimizers, registry


@pytest.fixture(scope="module")
def rows():
    return {topic: (k, t, x) for topic, k, t, x in differences.table()}


def _torch_twin(model):
    return models.build(registry.get(model), "torch")


def check_layout(k, t):
    assert "channels_last" in k and "channels_first" in t
    spec = registry.get("cnn")
    x = np.zeros((2, 32, 32, 3), np.float32)
    assert spec.feeds(x)["x"].shape == (2, 3, 32, 32)  # the contract and PyTorch: NCHW


def check_conv(k, t):
    assert "(3, 3, 2, 4)" in k and "(4, 2, 3, 3)" in t
    kernel = np.zeros((3, 3, 2, 4))
    assert engine.Conv2D().to_torch([kernel, np.zeros(4)])[0].shape == (4, 2, 3, 3)


def check_dense(k, t):
    assert "(2, 4)" in k and "(4, 2)" in t
    assert engine.Dense().to_torch([np.zeros((2, 4)), np.zeros(4)])[0].shape == (4, 2)


def check_flatten(k, t):
    assert "[0.0, 1.0, 2.0, 3.0]" in k and "[0.0, 2.0, 4.0, 6.0]" in t
    assert any(isinstance(r.transform, engine.DenseAfterFlatten) for r in models.port_table("cnn"))


def check_padding(k, t):
    assert "pads 0 before, 1 after" in k and "pads 1 before" in t
    pad = _torch_twin("resnet").block2.a.pad  # the stride-2 block spells TensorFlow's padding out
    assert tuple(pad.padding) == (0, 1, 0, 1)


def check_bn_eps(k, t):
    assert "epsilon=0.001" in k and "eps=1e-05" in t
    for model in ("resnet", "transfer"):
        eps = {m.eps for m in _torch_twin(model).modules() if isinstance(m, nn.BatchNorm2d)}
        assert eps == {1e-3}, model


def check_bn_momentum(k, t):
    assert "momentum=0.99" in k and "momentum=0.1" in t
    import keras

    from xdl.models.resnet.keras import BN

    for model in ("resnet", "transfer"):
        torch_m = {m.momentum for m in _torch_twin(model).modules() if isinstance(m, nn.BatchNorm2d)}
        kfw = backends.load("keras")
        keras_m = {layer.momentum for layer in kfw.leaf_layers(models.build(registry.get(model), "keras"))
                   if isinstance(layer, keras.layers.BatchNormalization)}
        assert {round(1 - m, 6) for m in keras_m} == torch_m, model  # Keras m is PyTorch 1 - m
    assert BN["momentum"] == 0.9


def check_lstm(k, t):
    assert k.startswith("3 arrays") and "unit_forget_bias=True" in k and t.startswith("4 tensors")
    lstm = _torch_twin("lstm").lstm
    assert not lstm.bias_hh_l0.requires_grad
    assert (lstm.bias_ih_l0.detach()[32:64] == 1).all()


def check_gru(k, t):
    assert "z, r, h" in k and "reset_after=True" in k and "r, z, n" in t
    w = np.arange(6.0)  # blocks z=[0,1], r=[2,3], h=[4,5] for 2 units
    kernel = np.tile(w, (1, 1))
    out = engine.GRU().to_torch([kernel, np.zeros((2, 6)), np.zeros((2, 6))])[0]
    assert out.ravel().tolist() == [2, 3, 0, 1, 4, 5]  # r, z, n


def check_adam(k, t):
    assert "epsilon=1e-07" in k and "eps=1e-08" in t
    opt = backends.load("torch").make_optimizer(nn.Linear(2, 2).parameters(), registry.get("cnn").recipe)
    assert opt.defaults["eps"] == optimizers.ADAM["epsilon"] == 1e-7


def check_rmsprop(k, t):
    assert "rho=0.9" in k and "alpha=0.99" in t
    opt = backends.load("torch").make_optimizer(nn.Linear(2, 2).parameters(), registry.get("mlp").recipe)
    assert opt.defaults["alpha"] == 0.9 and opt.defaults["eps"] == 1e-7


def check_init(k, t):
    assert "glorot_uniform" in k and "kaiming_uniform" in t and "biases nonzero" in t
    dense = _torch_twin("mlp").dense1  # re-initialised the Keras way
    assert (dense.bias.detach() == 0).all()
    limit = np.sqrt(6 / (784 + 512))  # glorot_uniform's bound
    assert float(dense.weight.detach().abs().max()) <= limit


def check_embedding(k, t):
    assert "'uniform'" in k and "std 1.0" in t
    assert float(_torch_twin("textcnn").embedding.weight.detach().abs().max()) <= 0.05


def check_softmax(k, t):
    assert "from_logits=False" in k and "takes logits" in t
    probs = backends.load("torch").predict(_torch_twin("mlp"), registry.get("mlp"), np.zeros((1, 28, 28, 1), np.float32))
    assert abs(probs.sum() - 1) < 1e-6  # the softmax is added for inference


def check_dropout(k, t):
    assert "training=False 0%" in k and "eval() 0%" in t and "about 50%" in k and "about 50%" in t


def check_frozen_bn(k, t):
    assert "moved 0.00" in k and "until eval()" in t and "moved 0.00" not in t
    net = _torch_twin("transfer")
    backends.load("torch").set_trainable(net, ["head"])
    net.train()
    backends.load("torch").frozen_batchnorm_to_eval(net)
    assert not net.bn3.training  # what the PyTorch loop does after train()


def check_token_loss(k, t):
    assert "(batch, time, classes)" in k and "(batch, classes, time)" in t
    spec = registry.get("tagger")
    loss = backends.load("torch").loss_function(spec)
    assert float(loss(torch.zeros(2, 5, 10), torch.zeros(2, 5, dtype=torch.long))) == pytest.approx(np.log(10))


def check_leaky_relu(k, t):
    assert "0.3" in k and "0.01" in t
    slopes = {m.negative_slope for m in _torch_twin("gan").modules() if isinstance(m, nn.LeakyReLU)}
    keras_net = models.build(registry.get("gan"), "keras")
    keras_slopes = {layer.negative_slope for layer in keras_net.get_layer("discriminator").layers
                    if type(layer).__name__ == "LeakyReLU"}
    assert slopes == keras_slopes == {0.2}


CHECKS = {
    "layout": check_layout, "convolution kernels": check_conv, "dense kernels": check_dense,
    "flatten order": check_flatten, "'same' padding at stride 2": check_padding, "BatchNorm epsilon": check_bn_eps,
    "BatchNorm momentum": check_bn_momentum, "LSTM biases": check_lstm, "GRU gates": check_gru,
    "Adam defaults": check_adam, "RMSprop defaults": check_rmsprop, "initialisers": check_init,
    "embedding initialiser": check_embedding, "softmax and loss": check_softmax,
    "dropout in training vs inference": check_dropout, "frozen BatchNorm": check_frozen_bn,
    "per-token loss": check_token_loss, "LeakyReLU slope": check_leaky_relu,
}


def test_every_row_has_a_check():
    assert {d.topic for d in differences.DIFFERENCES} == set(CHECKS)


@pytest.mark.parametrize("topic", list(CHECKS))
def test_row(rows, topic):
    keras_value, torch_value, handled = rows[topic]
    assert handled
    CHECKS[topic](keras_value, torch_value)


def test_the_docs_show_the_generated_table():
    assert differences.markdown() in (ROOT / "docs" / "differences.md").read_text()
