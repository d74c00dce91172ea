"""xdl twin's pairing (xdl/port/pairing.py) and its explanations (xdl/port/explain.py) on
hand-made layer records: framework-free, as the two modules are; the tracers that make such
records from real models are tested with them in tests/parity/test_twin.py."""

import numpy as np
import pytest

from xdl.errors import InputError
from xdl.port import engine, explain, pairing
from xdl.port.pairing import Layer


def _dense(name, n_in, n_out, **config):
    return Layer(name, "Dense", "dense", {"kernel": (n_in, n_out), "bias": (n_out,)}, config)


def _linear(name, n_in, n_out, **config):
    return Layer(name, "Linear", "dense", {"weight": (n_out, n_in), "bias": (n_out,)}, config)


def _conv(name, k, c_in, c_out, **config):
    return Layer(name, "Conv2D", "conv2d", {"kernel": (k, k, c_in, c_out), "bias": (c_out,)}, config)


def _conv2d(name, k, c_in, c_out, **config):
    return Layer(name, "Conv2d", "conv2d", {"weight": (c_out, c_in, k, k), "bias": (c_out,)}, config)


def _bn(name, c, **config):
    return Layer(name, "BatchNormalization", "batchnorm", {n: (c,) for n in ("gamma", "beta", "mean", "var")}, config)


def _bn2d(name, c, **config):
    return Layer(name, "BatchNorm2d", "batchnorm", {"weight": (c,), "bias": (c,), "running_mean": (c,),
                                                    "running_var": (c,), "num_batches_tracked": ()}, config)


def _act(name, activation, output=None, input=None, **config):
    return Layer(name, "Activation", pairing.ACTIVATION, {}, {"activation": activation, **config}, output=output,
                 input=input)


def _pairs(keras, torch, table=()):
    return [(p.keras.name, p.torch.name, p.how) for p in pairing.pair(keras, torch, table)]


# pairing ---------------------------------------------------------------------------------------


def test_layers_pair_in_call_order_with_the_engines_transforms():
    keras = [_dense("d1", 4, 8), _act("r", "relu"), _dense("d2", 8, 3)]
    torch = [_linear("fc1", 4, 8), _linear("fc2", 8, 3)]
    found = pairing.pair(keras, torch)
    assert [(p.keras.name, p.torch.name, p.how) for p in found] == [("d1", "fc1", "call order"),
                                                                    ("d2", "fc2", "call order")]
    assert all(type(p.transform) is engine.Dense for p in found)
    assert found[0].rule == engine.Rule("d1", "fc1", found[0].transform)


def test_a_layer_the_pytorch_model_lacks_is_named():
    keras = [_dense("d1", 4, 8), _dense("d2", 8, 8), _dense("d3", 8, 3)]
    torch = [_linear("fc1", 4, 8), _linear("fc3", 8, 3)]
    with pytest.raises(pairing.Unpaired, match=r"Keras layer 'd2' \(Dense: kernel \(8, 8\), bias \(8,\)\) has no "
                                               r"PyTorch partner: the PyTorch model goes from 'fc1' to 'fc3' without it"):
        pairing.pair(keras, torch)


def test_a_module_the_keras_model_lacks_is_named():
    keras = [_dense("d1", 4, 8), _dense("d3", 8, 3)]
    torch = [_linear("fc1", 4, 8), _linear("fc2", 8, 8), _linear("fc3", 8, 3)]
    with pytest.raises(pairing.Unpaired, match="PyTorch module 'fc2' .* has no Keras partner: the Keras model goes "
                                               "from 'd1' to 'd3' without it"):
        pairing.pair(keras, torch)


@pytest.mark.parametrize("keras, torch, message", [
    ([_dense("d1", 4, 8), _dense("d2", 8, 3)], [_linear("fc1", 4, 8)],
     "Keras layer 'd2' .* has no PyTorch partner: the PyTorch model runs no module with weights after 'fc1'"),
    ([_dense("d1", 4, 8)], [_linear("fc1", 4, 8), _linear("fc2", 8, 3)],
     "PyTorch module 'fc2' .* has no Keras partner: the Keras model runs no layer with weights after 'd1'"),
])
def test_a_last_layer_without_partner_is_named(keras, torch, message):
    with pytest.raises(pairing.Unpaired, match=message):
        pairing.pair(keras, torch)


def test_layers_of_another_kind_at_one_place_are_named_with_both_kinds():
    with pytest.raises(pairing.Unpaired, match=r"Keras layer 'd1' .* and PyTorch module 'conv' .* meet at the same "
                                               r"place in call order but are different kinds of layer \(dense vs conv2d\)"):
        pairing.pair([_dense("d1", 27, 8)], [_conv2d("conv", 3, 3, 8)])


def test_a_shape_that_does_not_fit_says_both_shapes():
    with pytest.raises(pairing.Unpaired, match=r"do not fit: Keras 'd1' ported gives weight \(8, 4\), PyTorch 'fc1' "
                                               r"holds \(6, 4\)"):
        pairing.pair([_dense("d1", 4, 8)], [_linear("fc1", 4, 6)])


def test_a_layer_without_bias_does_not_fit_a_module_with_one():
    keras = [Layer("d1", "Dense", "dense", {"kernel": (4, 8)})]
    with pytest.raises(pairing.Unpaired, match="PyTorch 'fc1' holds weight, bias; a Dense ported gives weight"):
        pairing.pair(keras, [_linear("fc1", 4, 8)])


def _residual(torch_names):
    """A block whose shortcut PyTorch runs before the main path, Keras after (as resnet's)."""
    keras = [_conv("stem", 3, 3, 8), _conv("main", 3, 8, 16), _bn("main_bn", 16), _conv("short", 1, 8, 16),
             _bn("short_bn", 16)]
    short, short_bn, main, main_bn = torch_names
    torch = [_conv2d("stem", 3, 3, 8), _conv2d(short, 1, 8, 16), _bn2d(short_bn, 16), _conv2d(main, 3, 8, 16),
             _bn2d(main_bn, 16)]
    return keras, torch


def test_layers_of_the_very_same_names_pair_by_name_whatever_their_order():
    keras, torch = _residual(["block.short", "block.short_bn", "block.main", "block.main_bn"])
    assert _pairs(keras, torch) == [
        ("stem", "stem", "name"), ("main", "block.main", "name"), ("main_bn", "block.main_bn", "name"),
        ("short", "block.short", "name"), ("short_bn", "block.short_bn", "name")]


def test_branches_run_in_another_order_pair_by_kind_shape_and_name():
    keras, torch = _residual(["block.s", "block.short_bn", "block.m", "block.main_bn"])
    assert _pairs(keras, torch) == [
        ("stem", "stem", "kind and shape"), ("main", "block.m", "kind and shape"),
        ("main_bn", "block.main_bn", "name"), ("short", "block.s", "kind and shape"),
        ("short_bn", "block.short_bn", "kind and shape")]  # the one left


def test_two_modules_that_fit_alike_without_a_deciding_name_are_refused():
    keras, torch = _residual(["block.short", "block.bn1", "block.main", "block.bn2"])
    with pytest.raises(pairing.Ambiguous, match="Keras layer 'main_bn' fits PyTorch modules 'block.bn1' and "
                                                "'block.bn2' alike .* say which in a port table") as caught:
        pairing.pair(keras, torch)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, InputError)  # exit 2: a question to the user, not a verdict


def test_call_order_that_the_names_contradict_is_refused():
    keras = [_dense("a", 4, 4), _dense("b", 4, 4)]
    torch = [_linear("b", 4, 4), _linear("a", 4, 4), _linear("c", 4, 4)]  # no name for the Keras model's third
    keras.append(_dense("z", 4, 4))
    with pytest.raises(pairing.Ambiguous, match="Keras layer 'a' pairs by call order with PyTorch module 'b' but by "
                                                "name with 'a'"):
        pairing.pair(keras, torch)


def test_a_port_table_decides_and_the_rest_pair_by_call_order():
    keras = [_dense("a", 4, 4), _dense("b", 4, 4), _dense("c", 4, 2)]
    torch = [_linear("b", 4, 4), _linear("a", 4, 4), _linear("fc", 4, 2)]
    table = [engine.Rule("a", "a", engine.Dense()), engine.Rule("b", "b", engine.Dense())]
    assert _pairs(keras, torch, table) == [("a", "a", "port table"), ("b", "b", "port table"), ("c", "fc", "call order")]


def test_a_port_table_naming_a_layer_twice_is_refused():
    keras, torch = [_dense("a", 4, 4), _dense("b", 4, 4)], [_linear("a", 4, 4), _linear("b", 4, 4)]
    table = [engine.Rule("a", "a", engine.Dense()), engine.Rule("b", "a", engine.Dense())]
    with pytest.raises(InputError, match="the port table names PyTorch module 'a' twice"):
        pairing.pair(keras, torch, table)


def test_a_stacked_recurrent_module_asks_for_a_table():
    keras = [Layer("l1", "LSTM", "lstm", {"kernel": (3, 16)}), Layer("l2", "LSTM", "lstm", {"kernel": (4, 16)})]
    torch = [Layer("lstm", "LSTM", "lstm", {"weight_ih_l0": (16, 3)}, {"num_layers": 2})]
    with pytest.raises(pairing.Ambiguous, match="stacks 2 recurrent layers in one"):
        pairing.pair(keras, torch)


@pytest.mark.parametrize("rule, message", [
    (engine.Rule("zz", "a", engine.Dense()), "the port table names Keras layer 'zz', which the Keras model did not "
                                             "run (its layers with weights: a)"),
    (engine.Rule("a", "zz", engine.Dense()), "the port table names PyTorch module 'zz', which the PyTorch model did "
                                             "not run (its modules with weights: a)"),
    (("a", "a", engine.Dense()), "a port table is a list of xdl.port.engine.Rule; it holds a tuple"),
])
def test_a_port_table_naming_what_the_models_lack_is_refused(rule, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pairing.pair([_dense("a", 4, 4)], [_linear("a", 4, 4)], [rule])


def test_a_layer_of_unknown_kind_needs_a_port_table():
    keras = [_dense("d", 4, 4), Layer("bias", "GlobalBias", "unknown", {"embeddings": (1, 1)})]
    torch = [_linear("d", 4, 4), Layer("bias", "Embedding", "embedding", {"weight": (1, 1)})]
    with pytest.raises(pairing.Ambiguous, match="Keras layer 'bias' .* holds weights of a kind xdl cannot pair by "
                                                "itself; name it in a port table"):
        pairing.pair(keras, torch)
    assert _pairs(keras, torch, [engine.Rule("bias", "bias", engine.Embedding())]) == [
        ("d", "d", "name"), ("bias", "bias", "port table")]


def _flattened(torch_before):
    """Keras conv -> Flatten -> Dense on a 6x6x4 activation; PyTorch conv, then `torch_before`."""
    keras = [Layer("conv", "Conv2D", "conv2d", {"kernel": (3, 3, 3, 4), "bias": (4,)}, output=np.zeros((2, 6, 6, 4))),
             Layer("flatten", "Flatten", "flatten", input_shape=(2, 6, 6, 4), output=np.zeros((2, 144))),
             _dense("dense", 144, 5)]
    torch = [Layer("conv", "Conv2d", "conv2d", {"weight": (4, 3, 3, 3), "bias": (4,)}, output=np.zeros((2, 4, 6, 6))),
             *torch_before, _linear("fc", 144, 5)]
    return pairing.pair(keras, torch)[1].transform


def test_a_dense_after_a_channels_first_flatten_reorders_its_rows():
    transform = _flattened([Layer("flat", "Flatten", "flatten", output=np.zeros((2, 144)))])
    assert isinstance(transform, engine.DenseAfterFlatten) and (transform.h, transform.w, transform.c) == (6, 6, 4)


def test_a_dense_after_pytorch_moved_channels_last_is_a_plain_transpose():
    permute = Layer("to_nhwc", "Permute", "other", output=np.zeros((2, 6, 6, 4)))
    assert type(_flattened([permute])) is engine.Dense


def test_a_gru_with_reset_after_false_is_refused_with_the_fix():
    keras = [Layer("gru", "GRU", "gru", {"kernel": (4, 24), "recurrent_kernel": (8, 24), "bias": (24,)},
                   {"reset_after": False})]
    torch = [Layer("gru", "GRU", "gru", {"weight_ih_l0": (24, 4), "weight_hh_l0": (24, 8), "bias_ih_l0": (24,),
                                         "bias_hh_l0": (24,)})]
    with pytest.raises(pairing.Unpaired, match="reset_after=False .* no weights make them compute the same. Use "
                                               r"reset_after=True \(Keras 3's default\)"):
        pairing.pair(keras, torch)


def test_units_take_only_activations_run_on_the_layers_own_output():
    out, other = np.ones((2, 3)), np.full((2, 3), 2.0)
    fc = _linear("fc", 4, 3)
    fc.output = out
    relu = _act("relu", "relu", output=np.maximum(out, 0), input=out)
    assert pairing.units([fc, relu])["fc"] is relu
    after_add = _act("relu", "relu", output=other, input=other)  # x + shortcut between them in forward()
    assert pairing.units([fc, after_add])["fc"] is fc


# explanations ----------------------------------------------------------------------------------


def _conv_pair(keras_config, torch_config, size=8, torch_before=()):
    k = Layer("conv2", "Conv2D", "conv2d", {"kernel": (3, 3, 8, 16), "bias": (16,)},
              {"kernel_size": (3, 3), "strides": (2, 2), "dilation_rate": (1, 1), **keras_config},
              input_shape=(2, size, size, 8))
    t = Layer("conv2", "Conv2d", "conv2d", {"weight": (16, 8, 3, 3), "bias": (16,)},
              {"kernel_size": (3, 3), "stride": (2, 2), "dilation": (1, 1), **torch_config})
    k_layers, t_layers = [k], [*torch_before, t]
    return explain.notes(pairing.pair(k_layers, t_layers)[0], k_layers, t_layers)


def test_same_padding_at_stride_2_on_an_even_size_names_the_fix():
    assert _conv_pair({"padding": "same"}, {"padding": (1, 1)}) == [
        "padding: Keras 'conv2' (padding='same', strides (2, 2), input 8x8) pads [(0, 1), (0, 1)] (before, after) "
        "per axis; PyTorch 'conv2' pads [(1, 1), (1, 1)]: pad as Keras does, nn.ZeroPad2d((0, 1, 0, 1)) before it "
        "and padding=0"]


def test_symmetric_padding_missing_in_pytorch_names_padding_to_give():
    assert _conv_pair({"padding": "same", "strides": (1, 1)}, {"padding": (0, 0), "stride": (1, 1)}) == [
        "padding: Keras 'conv2' (padding='same', strides (1, 1), input 8x8) pads [(1, 1), (1, 1)] (before, after) "
        "per axis; PyTorch 'conv2' pads [(0, 0), (0, 0)]: give it padding=(1, 1)"]


def test_keras_padding_rebuilt_with_a_zeropad_before_the_conv_is_no_difference():
    pad = Layer("pad", "ZeroPad2d", "pad", config={"padding": (0, 1, 0, 1)})
    assert _conv_pair({"padding": "same"}, {"padding": (0, 0)}, torch_before=[pad]) == []
    assert _conv_pair({"padding": "same"}, {"padding": (1, 1)}, size=9) == []  # odd: Keras pads 1 each side too


def test_stride_that_differs_is_named():
    assert _conv_pair({"padding": "valid"}, {"padding": (0, 0), "stride": (1, 1)}) == [
        "stride: Keras 'conv2' (2, 2), PyTorch 'conv2' (1, 1)"]


def _bn_pair(keras_config, torch_config):
    return pairing.pair([_bn("bn", 8, **keras_config)], [_bn2d("bn", 8, **torch_config)])[0]


def test_batchnorm_epsilon_note_gives_pytorchs_eps():
    p = _bn_pair({"epsilon": 1e-3, "momentum": 0.99}, {"eps": 1e-5, "momentum": 0.01})
    assert explain.notes(p, [p.keras], [p.torch]) == ["epsilon: Keras 'bn' 0.001, PyTorch 'bn' 1e-05: give PyTorch "
                                                      "eps=0.001"]
    assert explain.training_notes(p) == []
    assert explain.topics(p, [p.keras]) == ("BatchNorm epsilon", "BatchNorm momentum")


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_momentum_is_a_training_note(momentum):
    p = _bn_pair({"epsilon": 1e-3, "momentum": 0.99}, {"eps": 1e-3, "momentum": momentum})
    assert explain.notes(p, [p.keras], [p.torch]) == []  # inference alike
    assert explain.training_notes(p) == [
        f"momentum: Keras 'bn' 0.99 keeps that much of the old average, PyTorch 'bn' {momentum} takes that much of "
        f"the new batch: give PyTorch momentum=0.01 (the running statistics part in training)"]


def _unit(keras_activation, torch_activations):
    """Keras Dense(activation=...) and PyTorch Linear followed by `torch_activations` modules."""
    k = _dense("d", 4, 3, activation=keras_activation)
    out = np.linspace(-1, 1, 6).reshape(2, 3)
    t = _linear("fc", 4, 3)
    t.output = out
    t_layers = [t, *(_act(f"act{i}", name, output=out, input=out, **({"slope": slope} if slope else {}))
                     for i, (name, slope) in enumerate(torch_activations))]
    return pairing.pair([k], [t])[0], [k], t_layers


def test_leakyrelu_slope_note_names_both_slopes():
    p, k_layers, t_layers = _unit("leaky_relu", [("leaky_relu", 0.01)])
    assert explain.notes(p, k_layers, t_layers) == [
        "LeakyReLU slope: Keras 'd' applies leaky_relu (slope 0.2), PyTorch 'fc' leaky_relu (slope 0.01)"]


def test_another_activation_is_named_as_such():
    p, k_layers, t_layers = _unit("relu", [("tanh", None)])
    assert explain.notes(p, k_layers, t_layers) == ["activation: Keras 'd' applies relu, PyTorch 'fc' tanh"]


def test_an_activation_without_a_pytorch_module_is_said_where_it_may_be_missing():
    p, k_layers, t_layers = _unit("relu", [])
    assert explain.notes(p, k_layers, t_layers) == []  # F.relu in forward() leaves no record: no verdict here
    assert explain.unseen_activation(p, k_layers, t_layers) == [
        "Keras 'd' applies relu; PyTorch 'fc' is followed by no activation module: if its forward() applies none "
        "(rather than a function such as F.relu, which xdl cannot see), that is the difference"]
    p, k_layers, t_layers = _unit("relu", [("relu", None)])
    assert explain.unseen_activation(p, k_layers, t_layers) == []


def test_pooling_before_the_layer_that_parts_is_compared():
    k_layers = [_conv("c1", 3, 3, 8), Layer("pool", "MaxPooling2D", "pool", config={"op": "max", "global": False,
                                                                                   "pool_size": (2, 2)}),
                _conv("c2", 3, 8, 8)]
    t_layers = [_conv2d("c1", 3, 3, 8), Layer("pool", "AvgPool2d", "pool", config={"op": "avg", "global": False,
                                                                                  "kernel_size": 2}),
                _conv2d("c2", 3, 8, 8)]
    p = pairing.pair(k_layers, t_layers)[1]
    assert explain.notes(p, k_layers, t_layers) == ["pooling before it: Keras max pooling 2; PyTorch avg pooling 2"]
    t_layers[1] = Layer("pool", "MaxPool2d", "pool", config={"op": "max", "global": False, "kernel_size": 2})
    assert explain.notes(p, k_layers, t_layers) == []


def test_a_keras_embedding_masking_zero_is_a_setting_pytorch_lacks():
    keras = [Layer("emb", "Embedding", "embedding", {"embeddings": (20, 4)}, {"mask_zero": True})]
    torch = [Layer("emb", "Embedding", "embedding", {"weight": (20, 4)})]
    p = pairing.pair(keras, torch)[0]
    assert explain.settings(p, keras, torch) == [
        "Keras 'emb' has mask_zero=True: the layers after it skip the steps of id 0; PyTorch 'emb' masks nothing "
        "(padding_idx only keeps that row at zero)"]


@pytest.mark.parametrize("axis, shape, named", [(-1, (4, 3), "softmax"), (1, (4, 3), "softmax"),
                                                (0, (4, 3), "softmax(axis 0)"), (1, (2, 5, 3), "softmax(axis 1)")])
def test_a_softmax_over_another_axis_than_the_last_is_named_so(axis, shape, named):
    assert pairing.softmax_axis({"activation": "softmax"}, axis, shape) == {"activation": named}


def test_a_layer_frozen_on_one_side_only_is_a_training_note():
    keras = [_dense("d", 4, 4, trainable=False)]
    torch = [_linear("d", 4, 4, trainable=True)]
    p = pairing.pair(keras, torch)[0]
    assert explain.training_notes(p) == ["Keras's 'd' is frozen, PyTorch's learns (trainable=False / "
                                         "requires_grad=False on one side only): training differs"]


def test_a_layer_without_partner_beside_a_shared_one_says_the_other_runs_it_twice():
    shared = _dense("d", 4, 4)
    shared.calls = 2  # one encoder for two inputs
    keras = [shared, _dense("out", 8, 2)]
    torch = [_linear("d", 4, 4), _linear("d2", 4, 4), _linear("out", 8, 2)]
    with pytest.raises(pairing.Unpaired, match=r"has no Keras partner.* \(Keras runs 'd' 2 times: one layer, its "
                                               r"weights shared; if PyTorch has a layer per call, share one"):
        pairing.pair(keras, torch)
