"""Pairs the layers of two hand-written implementations of one network, a Keras model and a
PyTorch module, without a port table: the rules `xdl twin` ports weights with.

Each back end traces its model once on the user's inputs (xdl/backends/*_trace.py) and hands
over a `Layer` per layer it ran, in call order: its kind, its parameters' shapes, the settings
that change what it computes, its output. Here, framework-free:

  - the layers that hold weights are walked in call order on both sides; the i-th Keras layer
    pairs with the i-th PyTorch module when they are the same kind of layer and the Keras
    weights, moved by the engine's transform for that kind (xdl/port/engine.py), have exactly
    the shapes the module holds;
  - where the walk stops, the layer without a partner is named (the other side lacks it), or the
    two layers that meet and differ in kind or shape;
  - where the order and the names disagree (Keras `dense_a` meets PyTorch `dense_b` while
    PyTorch also has a `dense_a` of that shape), the pairing is ambiguous and refused: a port
    table decides;
  - a user's port table (a list of engine.Rules, the format of xdl/models/*/port.py) takes the
    layers it names; the rest are paired as above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xdl.errors import InputError, ParityError
from xdl.port import engine

# The kinds of layer with weights that the engine has a transform for; each back end's tracer
# maps its classes onto these names. A layer with weights of any other kind is "unknown".
WEIGHTED = ("dense", "conv1d", "conv2d", "conv2d_transpose", "batchnorm", "embedding", "layernorm",
            "lstm", "bilstm", "gru", "bigru", "mha")
ACTIVATION = "activation"  # parameter-free, element-wise or softmax: part of the unit before it
CHANNELS_FIRST = ("conv1d", "conv2d", "conv2d_transpose", "pool", "pad", "batchnorm")  # in PyTorch, on images and sequences


@dataclass(eq=False)  # one record per call: two records of one shape are still two layers
class Layer:
    """One call of a layer as its back end ran it. A layer called twice (one encoder for two
    inputs, one nn.ReLU after every Linear) has a record per call, in call order; the first
    (`call` 0) counts them all in `calls`, and is the one pairing and comparison use."""

    name: str  # Keras layer name / PyTorch module path: the names a port table uses
    type: str  # the class name, as the framework spells it
    kind: str  # one of WEIGHTED, ACTIVATION, "flatten", "pool", "pad", "dropout", "other", "unknown"
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)  # weights by name, in storage order
    config: dict[str, Any] = field(default_factory=dict)  # what changes the result (tracer-normalised)
    input_shape: tuple[int, ...] | None = None
    output: np.ndarray | None = None
    pre: np.ndarray | None = None  # a Keras layer's output before its own activation, where it has one
    input: np.ndarray | None = None  # an activation's or a Dense's input (after the layer before? flattened how?)
    call: int = 0  # which call of the layer this record is
    calls: int = 1  # how many times the layer ran (on the first call's record)

    def describe(self) -> str:
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in self.params.items())
        return f"{self.name!r} ({self.type}{': ' + shapes if shapes else ''})"


@dataclass(frozen=True)
class Pair:
    keras: Layer
    torch: Layer
    transform: engine.Transform
    how: str  # "call order" or "port table"

    @property
    def rule(self) -> engine.Rule:
        return engine.Rule(self.keras.name, self.torch.name, self.transform)


class Ambiguous(InputError):
    """The two models' layers cannot be paired with certainty: a port table must say."""


class Unpaired(ParityError):
    """A layer with no partner, or two that meet and differ: the models are not one network."""


def softmax_axis(config: dict, axis, shape) -> dict:
    """An activation's config with a softmax over any axis but the last named so ("softmax(axis
    0)"): PyTorch's nn.Softmax(dim=0) and Keras's softmax over the last axis are two functions.
    `axis` may count from the end; `shape` (its input's) says which axis it is."""
    if config.get("activation") != "softmax" or axis is None or shape is None:
        return config
    axis %= len(shape)
    return config if axis == len(shape) - 1 else {**config, "activation": f"softmax(axis {axis})"}


def weighted(layers: list[Layer]) -> list[Layer]:
    """The first call of every layer with weights, in call order."""
    return [layer for layer in layers if layer.params and layer.call == 0]


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _channels_first_before(torch_layers: list[Layer], module: Layer, hwc: tuple[int, ...]) -> bool:
    """Whether PyTorch flattened a channels-first activation before `module`: the last
    multi-dimensional output before it is (c, h, w) rather than Keras's (h, w, c). A flatten
    written as x.view(n, -1) leaves no module behind, so the activation before it decides."""
    before = torch_layers[:torch_layers.index(module)]
    for layer in reversed(before):
        if layer.output is None or layer.output.ndim < 3:
            continue
        shape = tuple(layer.output.shape[1:])
        moved = (hwc[-1], *hwc[:-1])
        if shape == moved and shape != hwc:
            return True
        return shape == moved and layer.kind in CHANNELS_FIRST
    return False


def flattened_from(keras_layers: list[Layer], layer: Layer) -> tuple[int, ...] | None:
    """The (h, w, c) or (w, c) a Keras Flatten before `layer` flattened, skipping the layers
    that do not move numbers (dropout, activations); None when no Flatten feeds it."""
    for before in reversed(keras_layers[:keras_layers.index(layer)]):
        if before.kind in ("dropout", ACTIVATION):
            continue
        if before.kind == "flatten" and before.input_shape is not None and len(before.input_shape) >= 3:
            return tuple(before.input_shape[1:])
        return None
    return None


def transform_for(k: Layer, keras_layers: list[Layer], t: Layer, torch_layers: list[Layer]) -> engine.Transform:
    """The engine's transform from Keras layer `k`'s weights to PyTorch module `t`'s.

    Raises:
        Unpaired: the kinds differ, or the Keras layer computes what the module cannot.
    """
    if k.kind != t.kind:
        raise Unpaired(f"Keras layer {k.describe()} and PyTorch module {t.describe()} meet at the same place "
                       f"in call order but are different kinds of layer ({k.kind} vs {t.kind})")
    bias = len(k.params) > 1
    if k.kind == "dense":
        hwc = flattened_from(keras_layers, k)
        if hwc is not None and bias and _channels_first_before(torch_layers, t, hwc):
            # a (w, c) sequence is an image one row high: the same reorder, C before W
            return engine.DenseAfterFlatten(*((1, *hwc) if len(hwc) == 2 else hwc))
        return engine.Dense(bias=bias)
    if k.kind == "mha":
        shapes = list(k.params.values())
        if len(shapes) != 8 or len(shapes[0]) != 3:
            raise Unpaired(f"Keras layer {k.describe()}: xdl pairs a MultiHeadAttention with biases and one "
                           f"query, key and value width; give a port table")
        return engine.MultiHeadAttention(heads=shapes[0][1], key_dim=shapes[0][2])
    if k.kind == "gru" and not k.config.get("reset_after", True):
        raise Unpaired(f"Keras layer {k.describe()} is a GRU with reset_after=False (the reset gate applied "
                       f"before the recurrent matmul); PyTorch's GRU {t.name!r} applies it after: no weights make "
                       f"them compute the same. Use reset_after=True (Keras 3's default)")
    return {
        "conv1d": lambda: engine.Conv1D(bias=bias), "conv2d": lambda: engine.Conv2D(bias=bias),
        "conv2d_transpose": lambda: engine.Conv2DTranspose(bias=bias), "batchnorm": engine.BatchNorm,
        "embedding": engine.Embedding, "layernorm": engine.LayerNorm, "lstm": engine.LSTM,
        "bilstm": engine.BidirectionalLSTM, "gru": engine.GRU, "bigru": engine.BidirectionalGRU,
    }[k.kind]()


def _misfit(k: Layer, t: Layer, transform: engine.Transform) -> str:
    """Why the Keras weights, moved by `transform`, would not fit the module ("" when they do)."""
    if tuple(transform.torch_suffixes) != tuple(t.params):
        return (f"PyTorch {t.name!r} holds {', '.join(t.params)}; a {k.type} ported gives "
                f"{', '.join(transform.torch_suffixes)}")
    try:
        moved = transform.to_torch([np.zeros(s, np.float32) for s in k.params.values()])
    except (ValueError, TypeError) as exc:
        return f"{type(transform).__name__} cannot move {k.name!r}'s weights: {exc}"
    for suffix, array in zip(transform.torch_suffixes, moved):
        if tuple(array.shape) != tuple(t.params[suffix]) and suffix != "num_batches_tracked":
            return (f"Keras {k.name!r} ported gives {suffix} {tuple(array.shape)}, PyTorch {t.name!r} holds "
                    f"{tuple(t.params[suffix])}")
    return ""


def _fits(k, keras_layers, t, torch_layers) -> engine.Transform | None:
    try:
        transform = transform_for(k, keras_layers, t, torch_layers)
    except Unpaired:
        return None
    return None if _misfit(k, t, transform) else transform


def _unknown(layers: list[Layer], side: str, covered: set[str]) -> None:
    for layer in weighted(layers):
        if layer.kind not in WEIGHTED and layer.name not in covered:
            raise Ambiguous(f"{side} {layer.describe()} holds weights of a kind xdl cannot pair by itself; name it "
                            f"in a port table (--port-table MODULE:TABLE, docs/twin.md)")


def _from_table(table, keras_layers: list[Layer], torch_layers: list[Layer]) -> list[Pair]:
    by_keras = {layer.name: layer for layer in reversed(keras_layers)}  # the first call's record
    by_torch = {layer.name: layer for layer in reversed(torch_layers)}
    pairs = []
    for rule in table:
        if not isinstance(rule, engine.Rule):
            raise InputError(f"a port table is a list of xdl.port.engine.Rule; it holds a {type(rule).__name__}")
        if rule.keras not in by_keras:
            raise InputError(f"the port table names Keras layer {rule.keras!r}, which the Keras model did not run "
                             f"(its layers with weights: {', '.join(l.name for l in weighted(keras_layers))})")
        if rule.torch not in by_torch:
            raise InputError(f"the port table names PyTorch module {rule.torch!r}, which the PyTorch model did not "
                             f"run (its modules with weights: {', '.join(l.name for l in weighted(torch_layers))})")
        pairs.append(Pair(by_keras[rule.keras], by_torch[rule.torch], rule.transform, "port table"))
    for side, names in (("Keras layer", [r.keras for r in table]), ("PyTorch module", [r.torch for r in table])):
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise InputError(f"the port table names {side} {twice!r} twice; each layer has one partner")
    return pairs


def pair(keras_layers: list[Layer], torch_layers: list[Layer], table=(), fixed=None) -> list[Pair]:
    """Pairs every Keras layer with weights with one PyTorch module, in Keras call order;
    `fixed` {Keras layer: transform} replaces the transforms chosen for those layers (the flatten
    order a run has shown: xdl.parity.twin).

    Raises:
        Unpaired: a layer has no partner, or two layers at one place differ (the networks differ).
        Ambiguous: a layer of a kind xdl cannot pair, or order and names disagree (give a table).
        InputError: the port table names a layer the model does not have.
    """
    given = _from_table(table, keras_layers, torch_layers)
    taken_k, taken_t = {p.keras.name for p in given}, {p.torch.name for p in given}
    _unknown(keras_layers, "Keras layer", taken_k)
    _unknown(torch_layers, "PyTorch module", taken_t)
    ks = [layer for layer in weighted(keras_layers) if layer.name not in taken_k]
    ts = [layer for layer in weighted(torch_layers) if layer.name not in taken_t]
    _refuse_stacked(ts)
    found = _by_exact_name(ks, ts, keras_layers, torch_layers)
    try:
        found = found or _by_order(ks, ts, keras_layers, torch_layers)
    except Unpaired as walked:
        # Branches run in another order by each framework (a residual block's shortcut before or
        # after its main path) stop the walk; kind, shape and names may still pair every layer.
        found = _by_kind_and_shape(ks, ts, keras_layers, torch_layers)
        if found is None:
            raise Unpaired(f"{walked}{_shared(ks, 'Keras', ts, 'PyTorch')}") from None
    pairs = given + [Pair(p.keras, p.torch, fixed[p.keras.name], f"{p.how}, flatten order seen")
                     if p.keras.name in (fixed or {}) else p for p in found]
    _refuse_crossed_names(pairs, keras_layers, torch_layers)
    order = {}
    for n, layer in enumerate(keras_layers):
        order.setdefault(layer.name, n)
    return sorted(pairs, key=lambda p: order[p.keras.name])


def _refuse_stacked(ts: list[Layer]) -> None:
    for t in ts:
        if t.kind in ("lstm", "bilstm", "gru", "bigru") and t.config.get("num_layers", 1) > 1:
            raise Ambiguous(f"PyTorch module {t.name!r} stacks {t.config['num_layers']} recurrent layers in one "
                            f"(num_layers={t.config['num_layers']}), which Keras writes as that many layers; xdl "
                            f"pairs one layer with one: write them as separate modules, or give a port table")


def _by_exact_name(ks, ts, keras_layers, torch_layers) -> list[Pair]:
    """Every Keras layer paired with the PyTorch module of its very name (`conv1` and `conv1`
    or `model.conv1`) where each has exactly one and fits it: the strongest evidence there is,
    whatever order forward() runs them in. [] where any layer lacks such a partner."""
    by_short: dict[str, list[Layer]] = {}
    for t in ts:
        by_short.setdefault(_short(t.name), []).append(t)
    pairs = []
    for k in ks:
        named = by_short.get(k.name, [])
        transform = _fits(k, keras_layers, named[0], torch_layers) if len(named) == 1 else None
        if transform is None:
            return []
        pairs.append(Pair(k, named[0], transform, "name"))
    return pairs if len(pairs) == len(ts) else []


def _by_order(ks, ts, keras_layers, torch_layers) -> list[Pair]:
    pairs, i, j = [], 0, 0
    while i < len(ks) and j < len(ts):
        transform = _fits(ks[i], keras_layers, ts[j], torch_layers)
        if transform is None:
            _stop(ks, i, ts, j, keras_layers, torch_layers)
        pairs.append(Pair(ks[i], ts[j], transform, "call order"))
        i, j = i + 1, j + 1
    if i < len(ks):
        raise Unpaired(f"Keras layer {ks[i].describe()} has no PyTorch partner: the PyTorch model runs no module "
                       f"with weights after {ts[-1].name!r}" if ts else f"Keras layer {ks[i].describe()} has no "
                       f"PyTorch partner: the PyTorch model has no module with weights")
    if j < len(ts):
        raise Unpaired(f"PyTorch module {ts[j].describe()} has no Keras partner: the Keras model runs no layer "
                       f"with weights after {ks[-1].name!r}" if ks else f"PyTorch module {ts[j].describe()} has no "
                       f"Keras partner: the Keras model has no layer with weights")
    return pairs


def _shared(ks, k_side: str, ts, t_side: str) -> str:
    """Where one side runs a layer more than once (one encoder for two inputs) and the other
    does not, what a layer "without partner" may be: a module per call on the other side."""
    for layers, side, other in ((ks, k_side, t_side), (ts, t_side, k_side)):
        again = next((layer for layer in layers if layer.calls > 1), None)
        if again is not None:
            return (f" ({side} runs {again.name!r} {again.calls} times: one layer, its weights shared; if {other} has "
                    f"a layer per call, share one, or pair them in a port table)")
    return ""


def _normal(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _same_name(keras: str, torch: str) -> bool:
    """Keras `block2p_bn` and PyTorch `model.block2.p.bn` are one name, spelled each framework's way."""
    return _short(torch) == keras or _normal(torch).endswith(_normal(keras))


def _by_kind_and_shape(ks, ts, keras_layers, torch_layers) -> list[Pair] | None:
    """Each Keras layer paired with the one PyTorch module of its kind whose shapes its weights
    fit, or among several, the one of its name; None when some layer fits none (or a module is
    left over): the walk's own message says which.

    Raises:
        Ambiguous: several modules fit and no name decides.
    """
    free, pairs = list(ts), []
    for k in ks:
        fits = [t for t in free if _fits(k, keras_layers, t, torch_layers)]
        if not fits:
            return None
        how = "kind and shape"
        if len(fits) > 1:
            named = [t for t in fits if _same_name(k.name, t.name)]
            if len(named) != 1:
                raise Ambiguous(f"Keras layer {k.name!r} fits PyTorch modules {fits[0].name!r} and {fits[1].name!r} "
                                f"alike (one kind, one shape) and the two models run their layers in another order; "
                                f"say which in a port table (--port-table MODULE:TABLE, docs/twin.md)")
            fits, how = named, "name"
        free.remove(fits[0])
        pairs.append(Pair(k, fits[0], _fits(k, keras_layers, fits[0], torch_layers), how))
    return None if free else pairs


def _stop(ks, i, ts, j, keras_layers, torch_layers):
    """Raises the one line that says why ks[i] and ts[j] do not pair: one side has a layer the
    other lacks (the walk resumes when it is skipped), or the two differ."""
    if j + 1 < len(ts) and _fits(ks[i], keras_layers, ts[j + 1], torch_layers):
        raise Unpaired(f"PyTorch module {ts[j].describe()} has no Keras partner: the Keras model goes from "
                       f"{ks[i - 1].name if i else 'its input'!r} to {ks[i].name!r} without it")
    if i + 1 < len(ks) and _fits(ks[i + 1], keras_layers, ts[j], torch_layers):
        raise Unpaired(f"Keras layer {ks[i].describe()} has no PyTorch partner: the PyTorch model goes from "
                       f"{ts[j - 1].name if j else 'its input'!r} to {ts[j].name!r} without it")
    transform = transform_for(ks[i], keras_layers, ts[j], torch_layers)  # raises where the kinds differ
    raise Unpaired(f"Keras layer {ks[i].name!r} and PyTorch module {ts[j].name!r} meet at the same place in call "
                   f"order but do not fit: {_misfit(ks[i], ts[j], transform)}")


def _refuse_crossed_names(pairs: list[Pair], keras_layers, torch_layers) -> None:
    """Refuses a pairing by call order that the names contradict: Keras `a` paired with PyTorch
    `b` while PyTorch `a` (or `block.a`) would fit `a` too. Two branches of one shape, run in
    another order by each framework, would otherwise swap their weights without a word."""
    by_short = {}
    for p in pairs:
        by_short.setdefault(_short(p.torch.name), []).append(p.torch)
    for p in pairs:
        if p.how == "port table" or _short(p.torch.name) == p.keras.name:
            continue
        for other in by_short.get(p.keras.name, []):
            if other is not p.torch and _fits(p.keras, keras_layers, other, torch_layers):
                raise Ambiguous(f"Keras layer {p.keras.name!r} pairs by call order with PyTorch module "
                                f"{p.torch.name!r} but by name with {other.name!r}; say which in a port table "
                                f"(--port-table MODULE:TABLE, docs/twin.md)")


def _feeds(before: Layer, after: Layer) -> bool:
    """Whether `after` ran on `before`'s output: an addition written in forward() between them
    (a residual block's x + shortcut) leaves no record, only another input."""
    if after.input is None or before.output is None:
        return True
    return after.input.shape == before.output.shape and np.array_equal(after.input, before.output)


def activations_of(layers: list[Layer], layer: Layer) -> list[Layer]:
    """The activations called right after `layer` on its output, in order: with it, one unit
    (PyTorch writes nn.ReLU after nn.Linear where Keras writes Dense(activation="relu"))."""
    found, last = [], layer
    for after in layers[layers.index(layer) + 1:]:
        if after.kind != ACTIVATION or not _feeds(last, after):
            break
        found.append(after)
        last = after
    return found


def units(layers: list[Layer]) -> dict[str, Layer]:
    """{name of a layer with weights: the record whose output ends its unit}: the layer's first
    call itself, or the last activation of its unit (activations_of): like is compared with like."""
    return {layer.name: (activations_of(layers, layer) or [layer])[-1] for layer in weighted(layers)}

