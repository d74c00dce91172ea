"""xdl twin on small Keras models and PyTorch rewrites of them written here: pairs that are one
network, and pairs with one planted difference each, found at the right layer and explained;
the CLI once end to end. (Pairing itself, framework-free: tests/port/test_pairing.py; the
reference models: test_twin_zoo.py.)"""

import json
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import xdl
from xdl import backends, cli
from xdl.errors import EXIT_INPUT, EXIT_PARITY, InputError
from xdl.port import engine

backends.load("keras")
import keras  # noqa: E402
from keras import layers  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def _seeded():
    keras.utils.set_random_seed(0)
    torch.manual_seed(0)


# the models -------------------------------------------------------------------------------------


def keras_mlp(hidden=None, middle=False):
    """Dense 12 -> 16 (relu, or `hidden` as a layer of its own) [-> 16 `mid`] -> 3 softmax."""
    _seeded()
    act = [hidden] if hidden is not None else []
    return keras.Sequential([keras.Input((12,)), layers.Dense(16, activation=None if act else "relu", name="hidden"),
                             *act, *([layers.Dense(16, activation="relu", name="mid")] if middle else []),
                             layers.Dense(3, activation="softmax", name="head")], name="kmlp")


def torch_mlp(activation=nn.ReLU):
    """Linear 12 -> 16, `activation` (None: no module), Linear -> 3, Softmax."""
    _seeded()
    mods = [("hidden", nn.Linear(12, 16)), *([("act", activation())] if activation else []),
            ("head", nn.Linear(16, 3)), ("softmax", nn.Softmax(-1))]
    return nn.Sequential(OrderedDict(mods))


def keras_cnn(padding="valid", strides=1, size=10):
    _seeded()
    model = keras.Sequential([
        keras.Input((size, size, 3)), layers.Conv2D(8, 3, strides=strides, padding=padding, name="conv"),
        layers.BatchNormalization(name="bn"), layers.ReLU(name="relu"), layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"), layers.Dense(4, name="head")], name="kcnn")
    # statistics and an affine part of their own: with BatchNorm's initial ones, eps would hardly show
    rng = np.random.default_rng(1)
    model.get_layer("bn").set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(size=8), 0.1 * rng.normal(size=8),
                                       rng.uniform(0.05, 0.2, 8)])
    return model


class TorchCNN(nn.Module):
    def __init__(self, padding=0, stride=1, size=10, eps=1e-3):
        super().__init__()
        _seeded()
        self.conv = nn.Conv2d(3, 8, 3, stride=stride, padding=padding)
        self.bn = nn.BatchNorm2d(8, eps=eps)
        self.relu, self.pool = nn.ReLU(), nn.MaxPool2d(2)
        side = ((size + 2 * padding - 3) // stride + 1) // 2
        self.head = nn.Linear(8 * side * side, 4)

    def forward(self, x):
        return self.head(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))


def keras_text(cell="lstm", **options):
    _seeded()
    rnn = {"lstm": layers.LSTM, "gru": layers.GRU}[cell](6, name=cell, **options)
    return keras.Sequential([keras.Input((7,), dtype="int32"), layers.Embedding(20, 8, name="embedding"), rnn,
                             layers.Dense(2, name="head")], name=f"k{cell}")


class TorchText(nn.Module):
    def __init__(self, cell="lstm"):
        super().__init__()
        _seeded()
        self.embedding = nn.Embedding(20, 8)
        setattr(self, cell, {"lstm": nn.LSTM, "gru": nn.GRU}[cell](8, 6, batch_first=True))
        self.cell, self.head = cell, nn.Linear(6, 2)

    def forward(self, tokens):
        steps, _ = getattr(self, self.cell)(self.embedding(tokens))
        return self.head(steps[:, -1])


def _tokens():
    return np.random.default_rng(0).integers(0, 20, size=(3, 7))


def keras_two_inputs():
    _seeded()
    a, b = keras.Input((4,), name="a"), keras.Input((6,), name="b")
    h = layers.Activation("tanh")(layers.Add()([layers.Dense(5, name="fa")(a), layers.Dense(5, name="fb")(b)]))
    return keras.Model([a, b], [layers.Dense(3, activation="softmax", name="probs")(h),
                                layers.Dense(1, name="score")(h)], name="ktwo")


class TorchTwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        _seeded()
        self.fa, self.fb, self.probs, self.score = nn.Linear(4, 5), nn.Linear(6, 5), nn.Linear(5, 3), nn.Linear(5, 1)

    def forward(self, a, b):
        h = torch.tanh(self.fa(a) + self.fb(b))
        return torch.softmax(self.probs(h), -1), self.score(h)


def keras_upsampler():
    _seeded()
    return keras.Sequential([keras.Input((5, 5, 2)), layers.Conv2D(4, 3, padding="same", name="conv"),
                             layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu",
                                                    name="deconv")], name="kup")


class TorchUpsampler(nn.Module):
    """Keras's 'same' transposed convolution: PyTorch's gives 11 pixels, forward() keeps 10."""

    def __init__(self, start=0):
        super().__init__()
        _seeded()
        self.conv, self.deconv, self.start = nn.Conv2d(2, 4, 3, padding=1), nn.ConvTranspose2d(4, 3, 3, stride=2), start

    def forward(self, x):
        return torch.relu(self.deconv(self.conv(x))[:, :, self.start:self.start + 10, self.start:self.start + 10])


def keras_branches():
    """Two branches of one shape from one input, concatenated: Keras runs `a` first."""
    _seeded()
    x = keras.Input((4,))
    h = layers.Concatenate()([layers.Dense(4, name="a")(x), layers.Dense(4, name="b")(x)])
    return keras.Model(x, layers.Dense(2, name="head")(h), name="kbranches")


class TorchBranches(nn.Module):
    """The same network, its forward() calling `b` before `a`; `names` of its two branches."""

    def __init__(self, names=("a", "b")):
        super().__init__()
        _seeded()
        self.names = names
        for name in names:
            self.add_module(name, nn.Linear(4, 4))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        a, b = (getattr(self, name) for name in self.names)
        hb = b(x)
        return self.head(torch.cat([a(x), hb], -1))


# one network ------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, inputs, n_layers", [
    (lambda: (keras_mlp(), torch_mlp()), lambda: _rand(3, 12), 2),
    (lambda: (keras_cnn(), TorchCNN()), lambda: _rand(3, 10, 10, 3), 3),
    (lambda: (keras_text("lstm"), TorchText("lstm")), _tokens, 3),
    (lambda: (keras_text("gru"), TorchText("gru")), _tokens, 3),
    (lambda: (keras_two_inputs(), TorchTwoInputs()), lambda: (_rand(3, 4), _rand(3, 6, seed=1)), 4),
], ids=["mlp", "cnn-batchnorm", "lstm-text", "gru-text", "two-inputs"])
def test_a_faithful_rewrite_is_one_network(make, inputs, n_layers):
    k, t = make()
    report = xdl.twin(k, t, inputs())
    assert report.exit_code == 0, report.render()
    assert report.verdict().startswith("SAME:") and len(report.layers) == n_layers
    assert all(r.keras == r.torch for r in report.layers)  # the rewrites name their modules as Keras its layers
    assert report.render().count("\noutput ") == len(report.outputs)  # every output has its line


def test_a_transposed_convolution_cropped_in_forward_is_compared_at_the_pixels_kept():
    report = xdl.twin(keras_upsampler(), TorchUpsampler(), _rand(3, 5, 5, 2))
    assert report.same, report.render()
    assert report.layers[1].at == "before its activation, at PyTorch's first 10x10 only (forward() crops it?)"
    # the last 10 kept, where Keras keeps the first: the layer agrees, what follows it does not
    report = xdl.twin(keras_upsampler(), TorchUpsampler(start=1), _rand(3, 5, 5, 2))
    assert report.exit_code == EXIT_PARITY and report.first is None
    assert report.verdict().endswith("(what follows the last layer with weights differs)")


def test_two_outputs_are_each_compared_and_rendered():
    report = xdl.twin(keras_two_inputs(), TorchTwoInputs(), (_rand(3, 4), _rand(3, 6, seed=1)))
    assert [o["shape"] for o in report.outputs] == [[3, 3], [3, 1]] and all(o["ok"] for o in report.outputs)
    # Keras runs the two heads in another order than forward() calls them: their names pair them
    assert {r.keras: (r.torch, r.how) for r in report.layers} == {
        "fa": ("fa", "name"), "fb": ("fb", "name"), "probs": ("probs", "name"), "score": ("score", "name")}
    text = report.render()
    assert "output output_0 [3, 3]: ok" in text and "output output_1 [3, 1]: ok" in text, text


def test_the_cnn_input_moves_to_channels_first_for_pytorch_and_says_how():
    report = xdl.twin(keras_cnn(), TorchCNN(), _rand(3, 10, 10, 3))
    assert report.inputs == ["input_0: Keras declares (None, 10, 10, 3); [3, 10, 10, 3] to Keras, [3, 3, 10, 10] to "
                             "PyTorch (its first convolution 'conv', Conv2d, reads 3 channels first)"]
    assert [r.kind for r in report.layers] == ["conv2d", "batchnorm", "dense"]
    # the Dense after the Flatten was ported with its rows reordered (HWC -> CHW), not transposed only
    assert report.same
    # BatchNorm's momentum differs (Keras 0.99, PyTorch's default 0.1): inference alike, training not
    assert report.warnings[1:] == ["momentum: Keras 'bn' 0.99 keeps that much of the old average, PyTorch 'bn' 0.1 "
                                   "takes that much of the new batch: give PyTorch momentum=0.01 (the running "
                                   "statistics part in training)"]
    # the zero biases of a new Keras model would hide where their layers sit
    assert report.warnings[0].startswith("the keras model's conv, head held initial values"), report.warnings


def test_inputs_given_channels_first_are_recognised():
    report = xdl.twin(keras_cnn(), TorchCNN(), _rand(3, 3, 10, 10))
    assert report.same, report.render()
    assert report.inputs[0].startswith("input_0: given channels first, moved to Keras's declared (None, 10, 10, 3); "
                                       "[3, 10, 10, 3] to Keras, [3, 3, 10, 10] to PyTorch")


def test_from_torch_ports_pytorchs_weights_into_keras():
    k, t = keras_mlp(), torch_mlp()
    report = xdl.twin(k, t, _rand(3, 12), source="torch")
    assert report.same and report.source == "torch"
    assert "with torch's weights in both" in report.verdict()
    np.testing.assert_array_equal(k.get_layer("hidden").get_weights()[0], t.hidden.weight.detach().numpy().T)


# one planted difference each --------------------------------------------------------------------


def test_padding_same_at_stride_2_differs_from_padding_1_and_says_the_fix():
    report = xdl.twin(keras_cnn(padding="same", strides=2), TorchCNN(padding=1, stride=2), _rand(3, 10, 10, 3))
    assert report.exit_code == EXIT_PARITY
    assert (report.first.keras, report.first.torch) == ("conv", "conv")
    assert report.explanation == [
        "padding: Keras 'conv' (padding='same', strides (2, 2), input 10x10) pads [(0, 1), (0, 1)] (before, after) "
        "per axis; PyTorch 'conv' pads [(1, 1), (1, 1)]: pad as Keras does, nn.ZeroPad2d((0, 1, 0, 1)) before it "
        "and padding=0"]
    assert "part at Keras layer 'conv' / PyTorch module 'conv'" in report.verdict()


def test_batchnorm_epsilon_is_found_at_the_batchnorm():
    report = xdl.twin(keras_cnn(), TorchCNN(eps=1e-5), _rand(3, 10, 10, 3))
    assert report.exit_code == EXIT_PARITY
    assert (report.first.keras, report.first.torch, report.first.kind) == ("bn", "bn", "batchnorm")
    assert report.explanation == ["epsilon: Keras 'bn' 0.001, PyTorch 'bn' 1e-05: give PyTorch eps=0.001"]
    assert report.layers[0].ok  # the convolution before it agrees


class _GatesUnswapped(engine.Transform):
    """A hand-written GRU port that forgets Keras's z, r, h gate order is PyTorch's r, z, n."""

    torch_suffixes = engine.GRU.torch_suffixes

    def to_torch(self, arrays):
        kernel, recurrent, bias = arrays
        return [kernel.T, recurrent.T, bias[0], bias[1]]

    def to_keras(self, arrays):
        w_ih, w_hh, b_ih, b_hh = arrays
        return [w_ih.T, w_hh.T, np.stack([b_ih, b_hh])]


def test_gru_gates_in_the_wrong_order_part_at_the_gru():
    table = [engine.Rule("gru", "gru", _GatesUnswapped())]
    report = xdl.twin(keras_text("gru"), TorchText("gru"), _tokens(), port_table=table)
    assert report.exit_code == EXIT_PARITY
    assert (report.first.keras, report.first.torch, report.first.how) == ("gru", "gru", "port table")
    assert report.layers[0].ok and report.layers[0].how == "name"  # the embedding before it
    assert report.explanation[0].startswith("no setting xdl reads differs, and the layer before agrees: what runs "
                                            "between 'embedding' and 'gru' differs"), report.explanation
    assert report.explanation[1].startswith("worth checking at a gru layer, GRU gates: by default Keras gates z, r, h")


def test_a_keras_gru_with_reset_after_false_has_no_pytorch_partner():
    report = xdl.twin(keras_text("gru", reset_after=False), TorchText("gru"), _tokens())
    assert report.exit_code == EXIT_PARITY and not report.layers
    assert "reset_after=False" in report.unpaired and "'gru'" in report.unpaired
    assert report.render().endswith(report.verdict())  # a report without outputs renders too


def test_leakyrelu_slope_is_found_after_the_layer_it_follows():
    report = xdl.twin(keras_mlp(hidden=layers.LeakyReLU(negative_slope=0.2, name="leaky")),
                      torch_mlp(lambda: nn.LeakyReLU(0.01)), _rand(3, 12) - 0.5)
    assert report.exit_code == EXIT_PARITY
    assert (report.first.keras, report.first.torch, report.first.at) == ("hidden", "hidden", "after its activation")
    assert report.explanation == ["LeakyReLU slope: Keras 'hidden' applies leaky_relu (slope 0.2), PyTorch 'hidden' "
                                  "leaky_relu (slope 0.01)"]


def test_a_dense_the_pytorch_model_lacks_is_named():
    report = xdl.twin(keras_mlp(middle=True), torch_mlp(), _rand(3, 12))
    assert report.exit_code == EXIT_PARITY
    assert report.unpaired.startswith("Keras layer 'mid' (Dense: kernel (16, 16), bias (16,)) has no PyTorch partner: "
                                      "the PyTorch model goes from 'hidden' to 'head' without it"), report.unpaired
    assert report.verdict() == f"DIFFER: Keras 'kmlp' and PyTorch 'Sequential' are not one network: {report.unpaired}"
    assert json.loads(report.to_json())["exit_code"] == EXIT_PARITY


def test_a_missing_relu_shows_at_the_next_layer_with_a_note_on_the_one_before():
    report = xdl.twin(keras_mlp(), torch_mlp(activation=None), _rand(3, 12) - 0.5)
    assert report.exit_code == EXIT_PARITY
    hidden = report.layers[0]
    assert hidden.ok and hidden.at == "before its activation"  # PyTorch may apply F.relu in forward(): unseen
    assert (report.first.keras, report.first.torch) == ("head", "head")
    assert ("before it, Keras 'hidden' applies relu; PyTorch 'hidden' is followed by no activation module: if its "
            "forward() applies none (rather than a function such as F.relu, which xdl cannot see), that is the "
            "difference") in report.explanation


def test_branches_called_in_another_order_pair_by_their_names():
    report = xdl.twin(keras_branches(), TorchBranches(), _rand(3, 4))
    assert report.same and [(r.keras, r.torch, r.how) for r in report.layers] == [
        ("a", "a", "name"), ("b", "b", "name"), ("head", "head", "name")], report.render()


def test_branches_of_other_names_called_in_another_order_say_the_pairing_may_be_wrong():
    report = xdl.twin(keras_branches(), TorchBranches(("left", "right")), _rand(3, 4))
    # call order pairs a with right (forward() calls it first): the concatenation then differs
    assert report.exit_code == EXIT_PARITY and report.first.keras == "head", report.render()
    assert report.explanation[0] == ("'a', 'b' are alike (one kind, one shape) and were paired by call order: if the "
                                     "PyTorch model runs them in another order than Keras, the pairing is wrong; give "
                                     "a port table (--port-table)")


def test_a_user_port_table_settles_them():
    table = [engine.Rule("a", "left", engine.Dense()), engine.Rule("b", "right", engine.Dense())]
    report = xdl.twin(keras_branches(), TorchBranches(("left", "right")), _rand(3, 4), port_table=table)
    assert report.same, report.render()
    assert [(r.keras, r.torch, r.how) for r in report.layers] == [
        ("a", "left", "port table"), ("b", "right", "port table"), ("head", "head", "name")]


def test_not_a_keras_and_a_pytorch_model_is_refused():
    with pytest.raises(InputError, match="takes a keras.Model, then a torch.nn.Module; the keras model given is a "
                                         "Sequential, not a keras.Model"):
        xdl.twin(torch_mlp(), keras_mlp(), _rand(3, 12))


# the command line -------------------------------------------------------------------------------

FACTORIES = """
import keras
import torch
from torch import nn


def keras_mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, name="hidden"),
                             keras.layers.LeakyReLU(negative_slope=0.2), keras.layers.Dense(3, name="head")])


def torch_mlp(slope=0.2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 16), nn.LeakyReLU(slope), nn.Linear(16, 3))


def torch_mlp_slope_001():
    return torch_mlp(0.01)
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    name = f"twinnets_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def test_cli_agreeing_pair_exits_0_and_json_parses(factories, capsys):
    m = factories
    args = ["twin", f"{m}:keras_mlp", f"{m}:torch_mlp", "--input", "input_0=3,12:float32:-1:1"]
    assert cli.main(args) == 0
    assert "SAME: Keras 'sequential" in capsys.readouterr().out
    assert cli.main([*args, "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["exit_code"] == 0 and found["verdict"].startswith("SAME") and len(found["layers"]) == 2
    args[2] = f"{m}:torch_mlp_slope_001"
    assert cli.main(args) == EXIT_PARITY
    out = capsys.readouterr().out
    assert "DIFFER:" in out and "why: LeakyReLU slope:" in out


def test_cli_missing_factory_is_one_line(factories, capsys):
    assert cli.main(["twin", f"{factories}:keras_mlp", f"{factories}:nowhere", "--input-shape", "3,12"]) == EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xdl: error:") and "nowhere" in err[0], err


def test_inputs_a_keras_model_cannot_take_say_what_it_expected():
    with pytest.raises(InputError, match=r"fails on inputs of shape \[\[3, 7\]\]: ValueError: Input 0 .* expected axis "
                                         r"-1 of input shape to have value 12, but received input with shape \(3, 7\)"):
        xdl.twin(keras_mlp(), torch_mlp(), _rand(3, 7))
