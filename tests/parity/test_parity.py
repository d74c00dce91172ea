"""Porting, the parity matrix, the layer diff and training parity, for every registered model."""

import json
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from torch import nn

from conftest import ROOT
from xdl import backends, models, twins
from xdl.errors import InputError
from xdl.parity import layers, matrix, steps
from xdl.port import engine
from xdl.spec import optimizers, registry

MODELS = registry.names()


def _fresh_twins(model, seed=3):
    spec = registry.get(model)
    kfw, tfw = backends.load("keras"), backends.load("torch")
    kfw.seed_everything(seed)
    tfw.seed_everything(seed)
    return spec, kfw, tfw, models.build(spec, "keras"), models.build(spec, "torch")


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_a_complete_port_table(model):
    spec, kfw, tfw, knet, tnet = _fresh_twins(model)
    rules = models.port_table(model)  # raises when port.py is missing
    assert models.taps(model), f"{model} has no diff taps"
    # The engine asserts every key is covered once and every shape matches, both ways.
    engine.keras_to_torch(rules, kfw.get_weights(knet), tfw.get_weights(tnet))
    engine.torch_to_keras(rules, tfw.get_weights(tnet), kfw.get_weights(knet))


@pytest.mark.parametrize("model", MODELS)
def test_ported_twins_compute_the_same_function(model):
    spec, kfw, tfw, knet, tnet = _fresh_twins(model)
    twins.port(model, "keras", knet, tnet)
    x = spec.sample(np.random.default_rng(0), 5, spec.expectations.seq_lengths[0] if spec.expectations.seq_lengths else None)
    np.testing.assert_allclose(tfw.predict(tnet, spec, x), kfw.predict(knet, spec, x),
                               atol=spec.tolerance.atol, rtol=spec.tolerance.rtol)


@pytest.mark.parametrize("model", MODELS)
def test_round_trips_are_bit_for_bit(model):
    spec, kfw, tfw, knet, tnet = _fresh_twins(model)
    rules = models.port_table(model)
    k0, t0 = kfw.get_weights(knet), tfw.get_weights(tnet)
    back = engine.torch_to_keras(rules, engine.keras_to_torch(rules, k0, t0), k0)
    for layer in k0:
        for a, b in zip(k0[layer], back[layer]):
            assert a.dtype == b.dtype and np.array_equal(a, b), layer
    again = engine.keras_to_torch(rules, engine.torch_to_keras(rules, t0, k0), t0)
    for key in t0:
        assert np.array_equal(t0[key], again[key]), key
    # and through real models, not only dicts
    twins.port(model, "keras", knet, tnet)
    knet2 = models.build(spec, "keras")
    twins.port(model, "torch", tnet, knet2)
    for layer, arrays in kfw.get_weights(knet2).items():
        for a, b in zip(arrays, k0[layer]):
            assert np.array_equal(a, b), layer


def test_engine_rejects_incomplete_tables_and_wrong_shapes():
    spec, kfw, tfw, knet, tnet = _fresh_twins("cnn")
    rules = models.port_table("cnn")
    k, t = kfw.get_weights(knet), tfw.get_weights(tnet)
    with pytest.raises(InputError, match=r"not covered \['conv2'\]"):
        engine.keras_to_torch([r for r in rules if r.keras != "conv2"], k, t)
    with pytest.raises(InputError, match="covered twice"):
        engine.keras_to_torch([*rules, rules[0]], k, t)
    swapped = [engine.Rule("dense1", "dense2", engine.Dense()) if r.keras == "dense1" else
               engine.Rule("dense2", "dense1", engine.Dense()) if r.keras == "dense2" else r for r in rules]
    with pytest.raises(InputError, match="shape"):
        engine.keras_to_torch(swapped, k, t)
    misfit = [engine.Rule("dense1", "dense1", engine.DenseAfterFlatten(h=4, w=4, c=32)) if r.keras == "dense1"
              else r for r in rules]
    with pytest.raises(InputError, match="DenseAfterFlatten cannot map dense1"):
        engine.keras_to_torch(misfit, k, t)


def test_a_naive_transpose_of_a_square_conv_kernel_passes_every_shape_check():
    """HWIO.T is OIWH: for a 3x3 kernel that has OIHW's shape, so only the diff can catch it."""
    spec, kfw, tfw, knet, tnet = _fresh_twins("cnn")
    naive = [engine.Rule(r.keras, r.torch, engine.Dense()) if r.keras == "conv1" else r
             for r in models.port_table("cnn")]
    ported = engine.keras_to_torch(naive, kfw.get_weights(knet), tfw.get_weights(tnet))  # no error
    tfw.set_weights(tnet, ported)
    x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype(np.float32)
    first = layers.first_divergence(layers.compare(spec, knet, tnet, x))
    assert first is not None and first.keras_layer == "conv1"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("weights", ["keras", "torch"])
def test_parity_matrix_of_the_committed_weights(model, weights):
    m = matrix.build(model, weights, providers=("cpu",))
    assert m.names == ["keras", "torch", "onnx[keras]/cpu", "onnx[torch]/cpu"]
    assert m.batch == 64
    for i in range(4):
        for j in range(4):
            if i != j:
                # far inside the tolerance: 1e-5, or the spec's atol for unbounded values (dqn's Q-values)
                bound = max(1e-5, registry.get(model).tolerance.atol)
                assert m.ok[i][j] and m.max_abs[i][j] <= bound, (m.names[i], m.names[j], m.max_abs[i][j])
                assert m.argmax_agreement[i][j] == 1.0
    assert m.exit_code == 0


@pytest.mark.parametrize("model", MODELS)
def test_layer_diff_agrees_for_the_real_twins(model):
    spec, nets, x = twins.shared_twins(model, "torch")
    diffs = layers.compare(spec, nets["keras"], nets["torch"], x)
    assert [d.keras_layer for d in diffs] == [t[0] for t in models.taps(model)]
    assert layers.first_divergence(diffs) is None, layers.render(model, diffs)


def _diverges_at(model, nets, spec, x):
    first = layers.first_divergence(layers.compare(spec, nets["keras"], nets["torch"], x))
    assert first is not None
    return first.keras_layer


def test_diff_finds_a_forgotten_flatten_reorder(monkeypatch):
    """The classic porting bug: transposing cnn's dense1 without reordering HWC rows to CHW."""
    naive = [engine.Rule(r.keras, r.torch, engine.Dense()) if r.keras == "dense1" else r
             for r in models.port_table("cnn")]
    monkeypatch.setattr(models, "port_table", lambda model: naive)
    spec, nets, x = twins.shared_twins("cnn", "keras")
    assert _diverges_at("cnn", nets, spec, x) == "dense1"


def test_diff_finds_a_softmax_left_out(monkeypatch):
    tfw = backends.load("torch")
    monkeypatch.setattr(tfw, "deployable",
                        lambda model, spec: nn.Sequential(OrderedDict([("model", model), ("softmax", nn.Identity())])).eval())
    spec, nets, x = twins.shared_twins("mlp", "keras")
    assert _diverges_at("mlp", nets, spec, x) == "dense2"


def test_diff_finds_a_missing_activation():
    spec, nets, x = twins.shared_twins("cnn", "keras")
    nets["torch"].relu2 = nn.Identity()  # conv2 without its relu
    assert _diverges_at("cnn", nets, spec, x) == "conv2"


@pytest.mark.parametrize("model", MODELS)
def test_training_parity_with_sgd(model):
    k = 10 if model == "lstm" else 20  # lstm's steps (128 tokens, both frameworks) cost ten times the others'
    r = steps.compare(model, k)
    assert len(r.keras_losses) == len(r.torch_losses) == k
    # It really trained: the weights moved far more than the frameworks disagree about them.
    # (cnn: 60x. Its weight gap grows in jumps, 5e-8 after step 2, 3e-6 after 5, 2e-5 after 15:
    # ReLU and MaxPool decisions flipping where the frameworks round differently.)
    if model == "textcnn":
        # Except one row: the padding id's embedding. Each step adds ~57,000 gradient terms into
        # it (128 reviews of 500 mostly-padding tokens) that nearly cancel, so its small update
        # (~2e-4) carries float32 summation error of its own size, summed in another order by
        # each framework. Every other weight agrees to ~1e-7 (measured layer by layer).
        assert r.worst_weight.startswith("embedding[0] at (0, "), r.worst_weight
    else:
        assert r.weights_moved > 10 * r.weights_max_abs, r.worst_weight
    assert r.ok and r.max_rel_loss <= 1e-4, steps.render(r)


def test_training_parity_names_the_rmsprop_difference_and_it_is_the_cause(monkeypatch):
    r = steps.compare("mlp", 20, optimizer="spec", lr=1e-3)
    assert r.optimizer == "rmsprop" and not r.ok and r.exit_code == 1
    assert "sqrt(v + eps)" in r.difference
    # With epsilon ~0 the placement cannot matter; if the named cause is the real one, parity returns.
    monkeypatch.setitem(optimizers.RMSPROP, "epsilon", 1e-30)
    assert steps.compare("mlp", 20, optimizer="spec", lr=1e-3).ok


def _xdl(*args):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_cli_parity_writes_json_and_a_png(tmp_path):
    r = _xdl("parity", "mlp", "--providers", "cpu", "--json", tmp_path / "p.json", "--plot", tmp_path / "p.png")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "parity OK" in r.stdout
    result = json.loads((tmp_path / "p.json").read_text())["mlp"]
    assert result["exit_code"] == 0 and len(result["names"]) == 4
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_training_parity_exit_codes(tmp_path):
    ok = _xdl("parity", "steps", "mlp", "--steps", "5", "--output", tmp_path / "t.json")
    assert ok.returncode == 0 and "training parity OK" in ok.stdout and "xdl: note" not in ok.stderr
    assert json.loads((tmp_path / "t.json").read_text())["mlp"]["exit_code"] == 0
    # the old spelling, with the options it passes on: a note naming `parity steps`, the same verdicts
    bad = _xdl("parity", "mlp", "--train-steps", "5", "--optimizer", "spec", "--lr", "1e-3")
    assert bad.returncode == 1 and "epsilon placement" in bad.stdout and "xdl parity steps" in bad.stderr


def test_cli_port_and_diff(tmp_path):
    r = _xdl("port", "cnn", "--from", "torch", "--runs", tmp_path)
    assert r.returncode == 0, r.stderr
    written = tmp_path / "cnn" / "keras" / "ported-from-torch.weights.h5"
    assert written.is_file() and "OK" in r.stdout
    spec = registry.get("cnn")
    kfw = backends.load("keras")
    net = models.build(spec, "keras")
    kfw.load_weights(net, written)  # a normal Keras weights file
    r = _xdl("diff", "cnn")
    assert r.returncode == 0 and "every layer agrees" in r.stdout
    r = _xdl("port", "cnn", "--from", "torch", "--to", "torch")
    assert r.returncode == 2 and "xdl: error:" in r.stderr
