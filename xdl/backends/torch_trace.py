"""A PyTorch module's layers as they run, for `xdl twin` (the pairing is xdl/port/pairing.py).

A forward hook on every layer records the order they run in (forward() decides it, not the
order of __init__), each one's first input shape and output, and how often it ran. A module of
a kind xdl pairs (nn.Linear, nn.LSTM...) is one layer, its children not looked into; any other
module is looked into, and one that holds parameters of its own is a layer of unknown kind.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xdl.backends import named_outputs
from xdl.backends import torch as backend
from xdl.port.pairing import ACTIVATION, Layer, softmax_axis

_ACTIVATIONS = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.Softmax: "softmax", nn.GELU: "gelu",
                nn.ELU: "elu", nn.SiLU: "silu", nn.ReLU6: "relu6", nn.Softplus: "softplus", nn.LogSoftmax: "log_softmax",
                nn.LeakyReLU: "leaky_relu", nn.Hardswish: "hard_swish", nn.Hardsigmoid: "hard_sigmoid"}
_KINDS = [
    (nn.MultiheadAttention, "mha"), (nn.Linear, "dense"), (nn.Conv1d, "conv1d"), (nn.Conv2d, "conv2d"), (nn.ConvTranspose2d, "conv2d_transpose"),
    (nn.BatchNorm1d, "batchnorm"), (nn.BatchNorm2d, "batchnorm"), (nn.Embedding, "embedding"),
    (nn.LayerNorm, "layernorm"), (nn.LSTM, "lstm"), (nn.GRU, "gru"), (nn.Flatten, "flatten"),
    (nn.Dropout, "dropout"), (nn.Dropout1d, "dropout"), (nn.Dropout2d, "dropout"),
    (nn.MaxPool1d, "pool"), (nn.MaxPool2d, "pool"), (nn.AvgPool1d, "pool"), (nn.AvgPool2d, "pool"),
    (nn.AdaptiveAvgPool1d, "pool"), (nn.AdaptiveAvgPool2d, "pool"), (nn.AdaptiveMaxPool1d, "pool"),
    (nn.AdaptiveMaxPool2d, "pool"), (nn.ZeroPad1d, "pad"), (nn.ZeroPad2d, "pad"), (nn.ConstantPad1d, "pad"),
    (nn.ConstantPad2d, "pad"), *((cls, ACTIVATION) for cls in _ACTIVATIONS),
]


def _kind(module: nn.Module) -> str | None:
    """The module's kind, or None for a container to look into."""
    for cls, kind in _KINDS:
        if isinstance(module, cls):
            if kind in ("lstm", "gru") and module.bidirectional:
                return "bi" + kind
            return kind
    if any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False)):
        return "unknown"
    return None if any(True for _ in module.children()) else "other"


def _config(module: nn.Module, kind: str) -> dict:
    if kind == ACTIVATION:
        name = next(n for cls, n in _ACTIVATIONS.items() if isinstance(module, cls))
        if name == "elu" and module.alpha != 1.0:
            name = f"elu(alpha={module.alpha:g})"
        if name == "gelu" and module.approximate != "none":
            name = f"gelu({module.approximate})"
        return {"activation": name, **({"slope": float(module.negative_slope)} if name == "leaky_relu" else {})}
    if kind == "pool":
        name = type(module).__name__
        return {"op": "max" if "Max" in name else "avg", "global": name.startswith("Adaptive"),
                **{k: getattr(module, k) for k in ("kernel_size", "stride", "padding", "output_size") if hasattr(module, k)}}
    keep = ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode", "eps", "momentum",
            "batch_first", "num_layers", "track_running_stats", "affine", "num_heads", "p")
    found = {k: getattr(module, k) for k in keep if hasattr(module, k)}
    weights = list(module.parameters())
    if weights:  # as Keras's trainable: a module whose parameters all have requires_grad=False is frozen
        found["trainable"] = any(w.requires_grad for w in weights)
    return found


def _layers(net: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(name, module, kind) of every module that is a layer: of a known kind, or holding
    parameters of its own, or a leaf; a known kind's children are not looked into."""
    found, skip = [], ()
    for name, module in net.named_modules():
        if skip and name.startswith(skip):
            continue
        kind = _kind(module)
        if kind is None:
            continue
        found.append((name, module, kind))
        if kind != "unknown":
            skip = tuple(s for s in (*skip, name + ".") if s)
    return found


def _params(module: nn.Module, kind: str) -> dict[str, tuple[int, ...]]:
    if kind == "unknown":  # its own, not its children's (they are layers of their own)
        own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        return {k: tuple(v.shape) for k, v in own}
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _array(value):
    value = value[0] if isinstance(value, (tuple, list)) else value  # a recurrent layer: (outputs, state)
    return value.detach().cpu().numpy().copy() if isinstance(value, torch.Tensor) else None


@torch.no_grad()
def trace(net: nn.Module, inputs) -> tuple[list[Layer], dict[str, np.ndarray]]:
    """Runs `net` once on `inputs` (positions or a dict) in eval mode; returns a record per layer
    call, in the order they ran (modules that never ran are left out), and its named outputs."""
    seen: dict[int, Layer] = {}
    order: list[Layer] = []

    def hook(name, kind):
        def record(module, args, output):
            first = args[0] if args else None
            earlier = seen.get(id(module))
            if earlier is not None:
                earlier.calls += 1
            shape = tuple(first.shape) if isinstance(first, torch.Tensor) else None
            config = softmax_axis(_config(module, kind), getattr(module, "dim", None), shape)
            layer = Layer(name, type(module).__name__, kind, _params(module, kind), config, shape, _array(output),
                          call=0 if earlier is None else earlier.calls - 1,
                          input=_array(first) if kind in (ACTIVATION, "dense") else None)
            seen.setdefault(id(module), layer)
            order.append(layer)
        return record

    handles = [m.register_forward_hook(hook(name or type(m).__name__, kind)) for name, m, kind in _layers(net)]
    try:
        outputs = backend.run(net, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return order, outputs


def weight_keys(net: nn.Module) -> list[str]:
    """The module's state-dict keys: every weight and buffer a port must fill."""
    return list(net.state_dict())


def first_convolution(net: nn.Module) -> tuple[str, str, int] | None:
    """(name, class, input channels) of the first convolution the module registers, or None: a
    convolution reading the input tells its layout, channels first."""
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
            return name, type(module).__name__, module.in_channels
    return None


def _as_is(value):
    return value


def sgd_steps(net: nn.Module, inputs, output: str, target: np.ndarray, steps: int, lr: float) -> list[float]:
    """`steps` plain-SGD steps on one batch, the mean squared error between the module's output
    named `output` (xdl.backends.named_outputs) and `target`, dropout off (its masks cannot be shared with Keras); each step's loss
    (before the step). The module is left in eval mode."""
    backend.disable_dropout(net)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    tensors = {k: torch.from_numpy(np.array(x)) for k, x in inputs.items()} if isinstance(inputs, dict) else \
        [torch.from_numpy(np.array(x)) for x in inputs]
    goal = torch.from_numpy(np.array(target))
    net.train()
    losses = []
    try:
        for _ in range(steps):
            out = net(**tensors) if isinstance(tensors, dict) else net(*tensors)
            loss = torch.mean((named_outputs(out, _as_is)[output] - goal) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        net.eval()
    return losses
