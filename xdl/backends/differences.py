"""The framework differences that matter, read from the installed Keras and PyTorch.

Every row states what Keras does, what PyTorch does, and where xdl reconciles them. The two
values are not typed in: each row's `read()` gets them from the libraries themselves, from a
default in a signature or by building a layer and looking at it, so the table printed by
`xdl differences` (and kept in docs/differences.md and tutorial 11) is what the installed versions do.
The tests assert every row, which is how a library change that moves a default shows up.

Importing this module imports neither framework; `table()` does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Difference:
    topic: str
    read: Callable[[], tuple[str, str]]  # -> (Keras's value, PyTorch's value), from the libraries
    xdl: str  # how xdl's twins reconcile it


def _default(callable_, name):
    return inspect.signature(callable_).parameters[name].default


def _layout():
    import keras
    import torch

    conv = torch.nn.Conv2d(3, 4, 3)
    conv(torch.zeros(1, 3, 8, 8))  # accepts channels-first
    return f"images {keras.config.image_data_format()} (N, H, W, C)", "images channels_first (N, C, H, W)"


def _conv_kernel():
    import keras
    import torch

    layer = keras.layers.Conv2D(4, 3)
    layer.build((None, 8, 8, 2))
    return (f"Conv2D kernel {tuple(layer.kernel.shape)} = (kh, kw, in, out)",
            f"Conv2d weight {tuple(torch.nn.Conv2d(2, 4, 3).weight.shape)} = (out, in, kh, kw)")


def _dense_kernel():
    import keras
    import torch

    layer = keras.layers.Dense(4)
    layer.build((None, 2))
    return (f"Dense kernel {tuple(layer.kernel.shape)} = (in, out): x @ kernel",
            f"Linear weight {tuple(torch.nn.Linear(2, 4).weight.shape)} = (out, in): x @ weight.T")


def _flatten():
    import keras
    import numpy as np
    import torch

    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)  # channels-last (H, W, C)
    k = np.asarray(keras.layers.Flatten()(x))[0, :4].tolist()
    t = torch.nn.Flatten()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))[0, :4].tolist()
    return f"Flatten order H, W, C: {k[:4]}", f"Flatten order C, H, W: {t[:4]}"


def _stride2_padding():
    import numpy as np
    import tensorflow as tf
    import torch

    # A 3x3 sum over a 4x4 image of ones at stride 2: the first output counts the real pixels
    # in its window, 9 when nothing is padded before the image, 4 when a row and a column are.
    ones = np.ones((1, 4, 4, 1), np.float32)
    k = tf.nn.conv2d(ones, np.ones((3, 3, 1, 1), np.float32), 2, "SAME").numpy()[0, :, :, 0]
    conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        t = conv(torch.ones(1, 1, 4, 4))[0, 0].numpy()
    try:
        torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")
        same = "padding='same' accepted at stride 2"
    except ValueError:
        same = "padding='same' refused at stride > 1"

    def before(first):
        return 0 if first == 9 else 1

    return (f"'same' at stride 2 pads {before(k[0, 0])} before, {1 - before(k[0, 0])} after (first window sums "
            f"{k[0, 0]:g})", f"{same}; padding=1 pads {before(t[0, 0])} before (first window sums {t[0, 0]:g})")


def _bn_eps():
    import keras
    import torch

    return (f"BatchNormalization epsilon={_default(keras.layers.BatchNormalization, 'epsilon')}",
            f"BatchNorm2d eps={_default(torch.nn.BatchNorm2d, 'eps')}")


def _bn_momentum():
    import keras
    import torch

    return (f"momentum={_default(keras.layers.BatchNormalization, 'momentum')}: weight of the old average",
            f"momentum={_default(torch.nn.BatchNorm2d, 'momentum')}: weight of the new batch")


def _lstm_biases():
    import keras
    import torch

    layer = keras.layers.LSTM(4)
    layer.build((None, 3, 2))
    keras_shapes = [tuple(w.shape) for w in layer.weights]
    torch_shapes = [(n, tuple(p.shape)) for n, p in torch.nn.LSTM(2, 4).named_parameters()]
    return (f"{len(keras_shapes)} arrays {keras_shapes}; unit_forget_bias={_default(keras.layers.LSTM, 'unit_forget_bias')}",
            f"{len(torch_shapes)} tensors, two biases: {', '.join(n for n, _ in torch_shapes)}")


def _gru():
    import keras

    return (f"gates z, r, h; reset_after={_default(keras.layers.GRU, 'reset_after')}",
            "gates r, z, n; reset gate after the recurrent matmul")


def _adam():
    import keras
    import torch

    return (f"Adam epsilon={_default(keras.optimizers.Adam, 'epsilon')}, lr={_default(keras.optimizers.Adam, 'learning_rate')}",
            f"Adam eps={_default(torch.optim.Adam, 'eps')}, lr={_default(torch.optim.Adam, 'lr')}")


def _rmsprop():
    import keras
    import torch

    return (f"RMSprop rho={_default(keras.optimizers.RMSprop, 'rho')}, epsilon={_default(keras.optimizers.RMSprop, 'epsilon')}",
            f"RMSprop alpha={_default(torch.optim.RMSprop, 'alpha')}, eps={_default(torch.optim.RMSprop, 'eps')}")


def _init():
    import keras
    import torch

    linear = torch.nn.Linear(1000, 1000)
    # kaiming_uniform(a=sqrt(5)) on fan_in 1000 draws from +-1/sqrt(1000) = +-0.0316
    return (f"Dense kernel_initializer={_default(keras.layers.Dense, 'kernel_initializer')!r}, "
            f"bias_initializer={_default(keras.layers.Dense, 'bias_initializer')!r}",
            f"Linear weights within +-{float(linear.weight.detach().abs().max()):.3f} (kaiming_uniform, a=sqrt(5)), "
            f"biases nonzero (up to {float(linear.bias.detach().abs().max()):.3f})")


def _embedding_init():
    import keras
    import torch

    return (f"Embedding embeddings_initializer={_default(keras.layers.Embedding, 'embeddings_initializer')!r} (+-0.05)",
            f"Embedding weights std {float(torch.nn.Embedding(1000, 16).weight.detach().std()):.1f} (normal(0, 1))")


def _softmax_and_loss():
    import keras
    import torch

    return (f"softmax inside the model; SparseCategoricalCrossentropy(from_logits="
            f"{_default(keras.losses.SparseCategoricalCrossentropy, 'from_logits')}) takes probabilities",
            f"{torch.nn.CrossEntropyLoss.__name__} takes logits (log-softmax fused)")


def _dropout_bn_modes():
    import keras
    import numpy as np
    import torch

    x = np.ones((1, 1000), np.float32)
    drop = keras.layers.Dropout(0.5)
    k_train, k_infer = np.asarray(drop(x, training=True)), np.asarray(drop(x, training=False))
    t = torch.nn.Dropout(0.5)
    t_train = t.train()(torch.from_numpy(x)).numpy()
    t_infer = t.eval()(torch.from_numpy(x)).numpy()
    return (f"Dropout(0.5) per call: training=True zeroes about {round((k_train == 0).mean(), 1):.0%}, "
            f"training=False {(k_infer == 0).mean():.0%}",
            f"Dropout(0.5) per module mode: train() zeroes about {round((t_train == 0).mean(), 1):.0%}, "
            f"eval() {(t_infer == 0).mean():.0%}")


def _frozen_bn():
    import keras
    import numpy as np
    import torch

    x = np.random.default_rng(0).normal(3.0, 1.0, (8, 4)).astype(np.float32)
    bn = keras.layers.BatchNormalization()
    bn.build((None, 4))
    bn.trainable = False
    bn(x, training=True)
    k_moved = float(np.abs(np.asarray(bn.moving_mean)).max())
    tbn = torch.nn.BatchNorm1d(4)
    for p in tbn.parameters():
        p.requires_grad = False
    tbn.train()(torch.from_numpy(x))
    t_moved = float(tbn.running_mean.abs().max())
    return (f"trainable=False: runs in inference mode (moving mean moved {k_moved:.2f})",
            f"requires_grad=False: still train mode (running mean moved {t_moved:.2f}) until eval()")


def _token_loss_axis():
    import torch

    loss = torch.nn.CrossEntropyLoss()
    try:
        loss(torch.zeros(2, 5, 3), torch.zeros(2, 5, dtype=torch.long))  # (batch, time, classes)
        torch_says = "accepts (batch, time, classes)"
    except (RuntimeError, ValueError):
        torch_says = "CrossEntropyLoss wants classes on axis 1: (batch, classes, time)"
    return "sparse_categorical_crossentropy on (batch, time, classes)", torch_says


def _leaky_relu():
    import keras
    import torch

    return (f"LeakyReLU negative_slope={_default(keras.layers.LeakyReLU, 'negative_slope')}",
            f"LeakyReLU negative_slope={_default(torch.nn.LeakyReLU, 'negative_slope')}")


DIFFERENCES = [
    Difference("layout", _layout, "PyTorch twins transpose at their boundary; the ONNX contract is NCHW"),
    Difference("convolution kernels", _conv_kernel, "engine.Conv2D permutes (3, 2, 0, 1)"),
    Difference("dense kernels", _dense_kernel, "engine.Dense transposes"),
    Difference("flatten order", _flatten, "engine.DenseAfterFlatten reorders the next Dense's rows"),
    Difference("'same' padding at stride 2", _stride2_padding, "ZeroPad2d((0, 1, 0, 1)) in resnet and autoencoder"),
    Difference("BatchNorm epsilon", _bn_eps, "PyTorch twins set eps=1e-3"),
    Difference("BatchNorm momentum", _bn_momentum, "Keras momentum m is PyTorch 1 - m"),
    Difference("LSTM biases", _lstm_biases, "bias_hh frozen at 0; forget-gate bias starts at 1"),
    Difference("GRU gates", _gru, "engine.GRU swaps the z and r blocks"),
    Difference("Adam defaults", _adam, "xdl/spec/optimizers.py sets every value in both"),
    Difference("RMSprop defaults", _rmsprop, "xdl/spec/optimizers.py sets rho 0.9 and eps 1e-7 in both"),
    Difference("initialisers", _init, "keras_like_init gives PyTorch twins Keras's scheme"),
    Difference("embedding initialiser", _embedding_init, "keras_like_init: uniform(-0.05, 0.05)"),
    Difference("softmax and loss", _softmax_and_loss, "xdl/spec/tasks.py pairs the losses; softmax added at export"),
    Difference("dropout in training vs inference", _dropout_bn_modes, "both predict() run in inference mode"),
    Difference("frozen BatchNorm", _frozen_bn, "the PyTorch loop puts frozen BatchNorms in eval()"),
    Difference("per-token loss", _token_loss_axis, "the tagger's loss transposes to (batch, classes, time)"),
    Difference("LeakyReLU slope", _leaky_relu, "the gan's discriminator sets DCGAN's 0.2 in both"),
]


def table() -> list[tuple[str, str, str, str]]:
    """(topic, Keras, PyTorch, how xdl handles it) for every row, read from the libraries now."""
    from xdl import backends

    # Seeded: the rows that sample (dropout, initialisers) print the same numbers every run.
    backends.load("keras").seed_everything(0)
    backends.load("torch").seed_everything(0)
    rows = []
    for d in DIFFERENCES:
        keras_value, torch_value = d.read()
        rows.append((d.topic, keras_value, torch_value, d.xdl))
    return rows


def markdown() -> str:
    """The table as Markdown, with the versions it was read from."""
    import keras
    import torch

    lines = [f"Read from Keras {keras.__version__} and PyTorch {torch.__version__} by `xdl differences`.", "",
             "| difference | Keras | PyTorch | how xdl reconciles it |", "|---|---|---|---|"]
    lines += [f"| {t} | {k} | {p} | {x} |" for t, k, p, x in table()]
    return "\n".join(lines)
