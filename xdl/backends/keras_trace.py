"""A Keras model's layers as they run, for `xdl twin` (the pairing is xdl/port/pairing.py).

Every leaf layer's `call` is wrapped for one run of the model on the user's inputs: the wrapper
records the order the layers run in (a subclassed model's attribute order is not its call
order), each layer's first input shape and output, and how often it ran. The wrappers are
removed afterwards, also when the model fails.
"""

from __future__ import annotations

import keras
import numpy as np

from xdl.backends import keras as backend
from xdl.backends import named_outputs
from xdl.port.pairing import ACTIVATION, Layer, softmax_axis

_KINDS = {
    "Dense": "dense", "Conv1D": "conv1d", "Conv2D": "conv2d", "Conv2DTranspose": "conv2d_transpose",
    "BatchNormalization": "batchnorm", "Embedding": "embedding", "LayerNormalization": "layernorm",
    "LSTM": "lstm", "GRU": "gru", "MultiHeadAttention": "mha", "Flatten": "flatten", "Reshape": "other",
    "Dropout": "dropout", "SpatialDropout1D": "dropout", "SpatialDropout2D": "dropout", "GaussianNoise": "dropout",
    "MaxPooling1D": "pool", "MaxPooling2D": "pool", "AveragePooling1D": "pool", "AveragePooling2D": "pool",
    "GlobalAveragePooling1D": "pool", "GlobalAveragePooling2D": "pool", "GlobalMaxPooling1D": "pool",
    "GlobalMaxPooling2D": "pool", "ZeroPadding1D": "pad", "ZeroPadding2D": "pad",
    "Activation": ACTIVATION, "ReLU": ACTIVATION, "LeakyReLU": ACTIVATION, "Softmax": ACTIVATION, "ELU": ACTIVATION,
}


def _name(activation) -> str:
    """An activation as a name: Keras stores a string, or the function."""
    return activation if isinstance(activation, str) else getattr(activation, "__name__", str(activation))


def _kind(layer) -> str:
    cls = type(layer).__name__
    if cls == "Bidirectional":
        return {"LSTM": "bilstm", "GRU": "bigru"}.get(type(layer.forward_layer).__name__, "unknown")
    return _KINDS.get(cls, "unknown" if layer.weights else "other")


def _config(layer, kind: str) -> dict:
    c = layer.get_config()
    if type(layer).__name__ == "Bidirectional":
        c = {**layer.forward_layer.get_config(), "merge_mode": c.get("merge_mode")}
    if kind == ACTIVATION:
        cls = type(layer).__name__
        if cls == "LeakyReLU" or (cls == "ReLU" and c.get("negative_slope")):
            return {"activation": "leaky_relu", "slope": float(c["negative_slope"])}
        if cls == "ReLU" and (c.get("max_value") is not None or c.get("threshold")):
            top, floor = c.get("max_value"), c.get("threshold") or 0
            return {"activation": "relu6" if top == 6 and not floor else f"relu(max {top}, threshold {floor})"}
        if cls == "ELU" and c.get("alpha", 1.0) != 1.0:
            return {"activation": f"elu(alpha={c['alpha']:g})"}
        return {"activation": {"ReLU": "relu", "Softmax": "softmax", "ELU": "elu"}.get(cls) or _name(c["activation"])}
    keep = ("activation", "recurrent_activation", "epsilon", "momentum", "kernel_size", "strides", "padding",
            "dilation_rate", "groups", "reset_after", "go_backwards", "return_sequences", "pool_size", "data_format",
            "merge_mode", "axis", "rate", "mask_zero", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
            "trainable")
    found = {k: c[k] for k in keep if k in c}
    if "activation" in found:
        found["activation"] = _name(found["activation"])
    if kind == "pool":
        found["op"] = "max" if "Max" in type(layer).__name__ else "avg"
        found["global"] = type(layer).__name__.startswith("Global")
    return found


def _first(output):
    return output[0] if isinstance(output, (list, tuple)) else output


def trace(net, inputs) -> tuple[list[Layer], dict[str, np.ndarray]]:
    """Runs `net` once on `inputs` (positions or a dict, as backends.keras.run takes them) in
    inference mode; returns a record per leaf layer call, in the order they ran (layers that never
    ran are left out), and its named outputs."""
    leaves = list(backend.leaf_layers(net))
    kinds = {id(layer): _kind(layer) for layer in leaves}
    configs = {id(layer): _config(layer, kinds[id(layer)]) for layer in leaves}  # before `activation` is wrapped
    seen: dict[int, Layer] = {}
    order: list[Layer] = []

    before_activation: dict[int, np.ndarray] = {}

    def wrapped(layer, call):
        def record(*args, **kwargs):
            out = call(*args, **kwargs)
            first = args[0] if args else next(iter(kwargs.values()), None)
            shape = tuple(int(d) for d in first.shape) if hasattr(first, "shape") else None
            earlier = seen.get(id(layer))
            if earlier is not None:
                earlier.calls += 1
            record_ = Layer(layer.name, type(layer).__name__, kinds[id(layer)],
                            {_weight_name(layer, w): tuple(int(d) for d in w.shape) for w in layer.weights},
                            softmax_axis(configs[id(layer)], layer.get_config().get("axis") if kinds[id(layer)] ==
                                         ACTIVATION else None, shape),
                            shape, np.asarray(_first(out)), before_activation.pop(id(layer), None),
                            call=0 if earlier is None else earlier.calls - 1,
                            input=np.asarray(first) if kinds[id(layer)] in (ACTIVATION, "dense") and first is not None
                            else None)
            seen.setdefault(id(layer), record_)
            order.append(record_)
            return out
        return record

    def activation(layer, function):
        # Dense and the convolutions end with self.activation(x): its input is the layer's output
        # before the activation, what a PyTorch nn.Linear returns when F.relu follows in forward()
        def record(x):
            before_activation.setdefault(id(layer), np.asarray(x))
            return function(x)
        return record

    fused = {id(layer): (layer, layer.activation) for layer in leaves
             if kinds[id(layer)] in ("dense", "conv1d", "conv2d", "conv2d_transpose")}
    for layer in leaves:
        object.__setattr__(layer, "call", wrapped(layer, layer.call))
    for layer, function in fused.values():
        object.__setattr__(layer, "activation", activation(layer, function))
    try:
        outputs = backend.run(net, inputs)
    finally:
        for layer in leaves:
            object.__delattr__(layer, "call")  # the class's own call again
        for layer, function in fused.values():
            object.__setattr__(layer, "activation", function)
    return order, outputs


def _weight_name(layer, weight) -> str:
    """A weight's path below its layer ("kernel"; a Bidirectional's "forward_lstm/lstm_cell/kernel")."""
    path = getattr(weight, "path", weight.name)  # "model/dense1/kernel": the model's name first
    return path.split(layer.name + "/", 1)[-1]


def declared_shapes(net) -> list[tuple] | None:
    """The input shapes a functional or Sequential model declares (None for the batch), or None
    where it declares none (a subclassed model)."""
    try:
        return [tuple(t.shape) for t in net.inputs]
    except (AttributeError, ValueError):
        return None


def versions() -> str:
    return f"Keras {keras.__version__}"


def _as_is(value):
    return value


def sgd_steps(net, inputs, output: str, target: np.ndarray, steps: int, lr: float) -> list[float]:
    """`steps` plain-SGD steps on one batch, the mean squared error between the model's output
    named `output` (xdl.backends.named_outputs) and `target`, dropout off (its masks cannot be shared with PyTorch); each step's loss
    (before the step)."""
    import tensorflow as tf

    backend.disable_dropout(net)
    opt = keras.optimizers.SGD(learning_rate=lr)
    arg = inputs if isinstance(inputs, dict) else inputs[0] if len(inputs) == 1 else list(inputs)
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            out = named_outputs(net(arg, training=True), _as_is)[output]
            loss = keras.ops.mean(keras.ops.square(out - target))
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        losses.append(float(loss))
    return losses
