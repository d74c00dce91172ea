"""Why two paired layers compute different things: the settings that do not travel with the
weights, compared one by one (xdl/port/pairing.py pairs the layers; `xdl twin` explains the
first pair whose outputs part, and warns of the differences that only training would show).

Each note names both layers, both values and what to change. Framework-free: the tracers in
xdl/backends/*_trace.py have put each layer's settings into its `config`.
"""

from __future__ import annotations

import math

from xdl.port.pairing import ACTIVATION, Layer, Pair, activations_of

# Keras's activation strings with a slope of their own (keras.activations.leaky_relu)
_KERAS_LEAKY_SLOPE = 0.2
# the rows of `xdl differences` that can explain a divergence at a layer of each kind
TOPICS = {
    "conv2d": ("'same' padding at stride 2", "convolution kernels"),
    "conv1d": ("convolution kernels",),
    "dense": ("flatten order", "dense kernels"),
    "batchnorm": ("BatchNorm epsilon", "BatchNorm momentum"),
    "lstm": ("LSTM biases",), "bilstm": ("LSTM biases",),
    "gru": ("GRU gates",), "bigru": ("GRU gates",),
    ACTIVATION: ("LeakyReLU slope",),
}


def _activation(layer: Layer) -> tuple[str, float | None]:
    name = layer.config.get("activation", "linear")
    slope = layer.config.get("slope", _KERAS_LEAKY_SLOPE if name == "leaky_relu" else None)
    return name, slope


FUSED = ("dense", "conv1d", "conv2d", "conv2d_transpose")  # Keras layers whose activation= ends their call


def unit_activations(layers: list[Layer], layer: Layer, fused: bool) -> list[tuple[str, float | None]]:
    """The activations a layer's unit applies, in order: Keras's own `activation=` first (when
    `fused`, for the layers that apply one at the end of their call; a recurrent layer's is
    inside its cell), then the activation layers called right after it."""
    found = []
    if fused and layer.kind in FUSED and layer.config.get("activation") not in (None, "linear"):
        found.append(_activation(layer))
    return found + [_activation(a) for a in activations_of(layers, layer)]


def _said(acts) -> str:
    if not acts:
        return "no activation"
    return " then ".join(f"{n}" + (f" (slope {s:g})" if s is not None else "") for n, s in acts)


def _activation_note(p: Pair, k_layers, t_layers) -> list[str]:
    keras, torch = unit_activations(k_layers, p.keras, True), unit_activations(t_layers, p.torch, False)
    if keras == torch or (keras and not torch):  # the latter: see unseen_activation
        return []
    what = "LeakyReLU slope" if [n for n, _ in keras] == [n for n, _ in torch] else "activation"
    return [f"{what}: Keras {p.keras.name!r} applies {_said(keras)}, PyTorch {p.torch.name!r} {_said(torch)}"]


def unseen_activation(p: Pair, k_layers, t_layers) -> list[str]:
    """Where Keras applies an activation and no PyTorch module follows its partner: forward()
    may apply it as a function (F.relu), which no hook sees, or not at all. Said where the
    models part after such a pair: the next layer is where a missing activation shows."""
    keras, torch = unit_activations(k_layers, p.keras, True), unit_activations(t_layers, p.torch, False)
    if not keras or torch:
        return []
    return [f"Keras {p.keras.name!r} applies {_said(keras)}; PyTorch {p.torch.name!r} is followed by no activation "
            f"module: if its forward() applies none (rather than a function such as F.relu, which xdl cannot "
            f"see), that is the difference"]


def _pads_keras(layer: Layer, before: Layer | None) -> list[tuple[int, int]] | None:
    c, shape = layer.config, layer.input_shape
    if shape is None or "kernel_size" not in c:
        return None
    sizes = shape[1:-1]  # channels last
    pads = []
    for i, n in enumerate(sizes):
        k, s, d = c["kernel_size"][i], c["strides"][i], c.get("dilation_rate", (1,) * len(sizes))[i]
        if c["padding"] == "same":
            total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        elif c["padding"] == "causal":
            pads.append(((k - 1) * d, 0))
        else:
            pads.append((0, 0))
    if before is not None and before.kind == "pad":
        extra = before.config.get("padding")
        extra = [tuple(e) for e in extra] if isinstance(extra[0], (tuple, list)) else [tuple(extra)]
        pads = [(a + e[0], b + e[1]) for (a, b), e in zip(pads, extra)]
    return pads


def _pads_torch(layer: Layer, before: Layer | None) -> list[tuple[int, int]] | None:
    c = layer.config
    if "kernel_size" not in c or layer.type.startswith("ConvTranspose"):
        return None
    kernel, dilation, padding = c["kernel_size"], c.get("dilation", (1,) * len(c["kernel_size"])), c["padding"]
    if padding == "same":
        pads = [(((k - 1) * d) // 2, (k - 1) * d - ((k - 1) * d) // 2) for k, d in zip(kernel, dilation)]
    elif padding == "valid":
        pads = [(0, 0)] * len(kernel)
    else:
        pads = [(p, p) for p in padding]
    if before is not None and before.kind == "pad":
        flat = tuple(before.config.get("padding", ()))  # (left, right[, top, bottom]): the last axis first
        extra = [flat[i:i + 2] for i in range(0, len(flat), 2)][::-1]
        pads = [(a + e[0], b + e[1]) for (a, b), e in zip(pads, extra)]
    return pads


def _previous(layers: list[Layer], layer: Layer) -> Layer | None:
    n = layers.index(layer)
    return layers[n - 1] if n else None


def _padding_note(p: Pair, k_layers, t_layers) -> list[str]:
    keras = _pads_keras(p.keras, _previous(k_layers, p.keras))
    torch = _pads_torch(p.torch, _previous(t_layers, p.torch))
    if keras is None or torch is None or keras == torch:
        return []
    c = p.keras.config
    if any(a != b for a, b in keras):  # PyTorch's padding= pads both sides alike
        flat = tuple(v for a, b in reversed(keras) for v in (a, b))  # ZeroPad2d: the last axis first
        fix = f": pad as Keras does, nn.ZeroPad{len(keras)}d({flat}) before it and padding=0"
    else:
        fix = f": give it padding={tuple(a for a, _ in keras)}"
    return [f"padding: Keras {p.keras.name!r} (padding={c['padding']!r}, strides {tuple(c['strides'])}, input "
            f"{'x'.join(map(str, p.keras.input_shape[1:-1]))}) pads {keras} (before, after) per axis; PyTorch "
            f"{p.torch.name!r} pads {torch}{fix}"]


def _settings_note(p: Pair) -> list[str]:
    k, t = p.keras.config, p.torch.config
    notes = []
    if "epsilon" in k and "eps" in t and not math.isclose(k["epsilon"], t["eps"], rel_tol=1e-6):
        notes.append(f"epsilon: Keras {p.keras.name!r} {k['epsilon']:g}, PyTorch {p.torch.name!r} {t['eps']:g}: "
                     f"give PyTorch eps={k['epsilon']:g}")
    for keras_key, torch_key in (("strides", "stride"), ("dilation_rate", "dilation")):
        if keras_key in k and torch_key in t and tuple(k[keras_key]) != tuple(t[torch_key]):
            notes.append(f"{torch_key}: Keras {p.keras.name!r} {tuple(k[keras_key])}, PyTorch {p.torch.name!r} "
                         f"{tuple(t[torch_key])}")
    if p.keras.kind == "embedding" and k.get("mask_zero"):
        notes.append(f"Keras {p.keras.name!r} has mask_zero=True: the layers after it skip the steps of id 0; "
                     f"PyTorch {p.torch.name!r} masks nothing (padding_idx only keeps that row at zero)")
    if p.keras.kind in ("lstm", "bilstm", "gru", "bigru"):
        for key, torch_has in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
            if k.get(key, torch_has) != torch_has:
                notes.append(f"{key}: Keras {p.keras.name!r} uses {k[key]}, PyTorch's {p.torch.type} computes "
                             f"{torch_has} only: no PyTorch {p.torch.type} matches it")
        if k.get("go_backwards"):
            notes.append(f"Keras {p.keras.name!r} runs backwards (go_backwards=True); PyTorch {p.torch.name!r} "
                         f"runs forwards: flip the sequence before it")
    return notes


def training_notes(p: Pair) -> list[str]:
    """Differences that leave inference alike and show in training: BatchNorm's momentum (Keras
    weighs the old average by m, PyTorch the new batch by m)."""
    k, t = p.keras.config, p.torch.config
    if k.get("trainable", True) != t.get("trainable", True):
        frozen, learns = (("Keras", "PyTorch") if not k.get("trainable", True) else ("PyTorch", "Keras"))
        return [f"{frozen}'s {p.keras.name if frozen == 'Keras' else p.torch.name!r} is frozen, {learns}'s learns "
                f"(trainable=False / requires_grad=False on one side only): training differs"]
    if p.keras.kind != "batchnorm" or "momentum" not in k or "momentum" not in t:
        return []
    if t["momentum"] is None or not math.isclose(1 - k["momentum"], t["momentum"], rel_tol=1e-6):
        return [f"momentum: Keras {p.keras.name!r} {k['momentum']:g} keeps that much of the old average, PyTorch "
                f"{p.torch.name!r} {t['momentum']} takes that much of the new batch: give PyTorch "
                f"momentum={1 - k['momentum']:.4g} (the running statistics part in training)"]
    return []


def _between(layers: list[Layer], end: Layer) -> list[Layer]:
    """The pooling layers run after the last layer with weights before `end`, up to it."""
    n = layers.index(end)
    found = []
    for layer in reversed(layers[:n]):
        if layer.params:
            break
        if layer.kind == "pool":
            found.append(layer)
    return found[::-1]


def _pool(layer: Layer) -> str:
    c = layer.config
    if c.get("global"):
        return f"global {c['op']} pooling"
    size = c.get("pool_size") or c.get("kernel_size")
    size = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    return f"{c['op']} pooling {'x'.join(map(str, size if len(set(size)) > 1 else size[:1]))}"


def _pooling_note(p: Pair, k_layers, t_layers) -> list[str]:
    keras, torch = _between(k_layers, p.keras), _between(t_layers, p.torch)
    if [_pool(x) for x in keras] == [_pool(x) for x in torch]:
        return []
    return [f"pooling before it: Keras {', '.join(map(_pool, keras)) or 'none'}; PyTorch "
            f"{', '.join(map(_pool, torch)) or 'no pooling module (a function in forward() is not seen)'}"]


def settings(p: Pair, k_layers: list[Layer], t_layers: list[Layer]) -> list[str]:
    """The settings in which `p`'s two layers, or the activations right after them, certainly
    differ in inference, each read from a layer both frameworks recorded: a difference here is
    one whether or not the inputs showed it (a relu6 and a relu agree below 6)."""
    return _settings_note(p) + _activation_note(p, k_layers, t_layers)


def notes(p: Pair, k_layers: list[Layer], t_layers: list[Layer]) -> list[str]:
    """Every setting in which `p`'s two layers (and the padding and pooling just before them,
    and the activations just after) differ in inference, one line each; [] when xdl sees none.
    Padding and pooling may be written as functions in forward() (F.pad, F.max_pool2d), which
    no hook sees: their notes can only explain a difference the activations show."""
    return _padding_note(p, k_layers, t_layers) + settings(p, k_layers, t_layers) + _pooling_note(p, k_layers, t_layers)


def topics(p: Pair, k_layers: list[Layer]) -> tuple[str, ...]:
    """The rows of `xdl differences` worth reading where `p` parts and no setting explains why
    (the flatten order only where a Flatten feeds the Dense)."""
    found = TOPICS.get(p.keras.kind, ())
    if p.keras.kind == "dense" and not _fed_by_flatten(k_layers, p.keras):
        found = tuple(t for t in found if t != "flatten order")
    return found


def _fed_by_flatten(layers: list[Layer], layer: Layer) -> bool:
    for before in reversed(layers[:layers.index(layer)]):
        if before.kind not in ("dropout", ACTIVATION):
            return before.kind == "flatten"
    return False


def dropout_note(k_layers: list[Layer], t_layers: list[Layer]) -> list[str]:
    """Dropout rates in call order, where they differ: inference never shows them."""
    keras = [layer.config.get("rate") for layer in k_layers if layer.kind == "dropout" and not layer.call]
    torch = [layer.config.get("p") for layer in t_layers if layer.kind == "dropout" and not layer.call]
    if keras == torch:
        return []
    return [f"dropout: Keras's rates {keras or 'none'}, PyTorch's {torch or 'none'} (in call order): training "
            f"differs, inference does not show it"]


def regulariser_notes(k_layers: list[Layer]) -> list[str]:
    """Keras regularisers add to the loss; a PyTorch model has none of its own (weight_decay
    belongs to the optimizer): training differs."""
    return [f"Keras {layer.name!r} has a {key} (PyTorch puts L2 in the optimizer's weight_decay): training differs"
            for layer in k_layers if not layer.call
            for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer") if layer.config.get(key)]
