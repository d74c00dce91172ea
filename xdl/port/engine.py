"""The weight-porting engine: moves trained weights between a model's Keras and PyTorch twins.

Each model's port.py holds a TABLE of rules, one per layer with weights: which Keras layer,
which PyTorch module, and the transform between their storage layouts. The engine applies the
table in either direction and asserts that

  - every Keras layer with weights and every PyTorch state-dict key is covered exactly once,
  - every produced array has exactly the shape the receiving twin expects.

Everything here is numpy: the framework modules turn models into dicts and back
(`get_weights` / `set_weights`). Every transform is a pure permutation of the numbers (a
transpose or a reordering), so Keras -> PyTorch -> Keras gives back every bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xdl.errors import InputError

KerasWeights = dict[str, list[np.ndarray]]  # layer name -> layer.get_weights()
TorchWeights = dict[str, np.ndarray]  # state-dict key -> tensor as numpy


class Transform:
    """How one layer's weights are stored in each framework."""

    torch_suffixes: tuple[str, ...] = ("weight", "bias")

    def to_torch(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def to_keras(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


class Dense(Transform):
    """Keras Dense kernel (in, out) <-> PyTorch Linear weight (out, in): a transpose.

    Keras computes x @ kernel; PyTorch computes x @ weight.T, storing one row per output unit.
    bias=False for a layer without one (use_bias=False / bias=False).
    """

    def __init__(self, bias: bool = True):
        self.torch_suffixes = ("weight", "bias") if bias else ("weight",)

    def to_torch(self, arrays):
        return [arrays[0].T, *arrays[1:]]

    def to_keras(self, arrays):
        return [arrays[0].T, *arrays[1:]]


class Conv2D(Transform):
    """Keras Conv2D kernel HWIO (kh, kw, in, out) <-> PyTorch Conv2d weight OIHW (out, in, kh, kw).

    Same cross-correlation, same numbers; the axes are stored in another order. bias=False for
    a convolution without one (use_bias=False / bias=False, as before a BatchNorm).
    """

    def __init__(self, bias: bool = True):
        self.bias = bias
        self.torch_suffixes = ("weight", "bias") if bias else ("weight",)

    def to_torch(self, arrays):
        return [arrays[0].transpose(3, 2, 0, 1), *arrays[1:]]

    def to_keras(self, arrays):
        return [arrays[0].transpose(2, 3, 1, 0), *arrays[1:]]


@dataclass
class DenseAfterFlatten(Transform):
    """The first Dense after a Flatten of an image: a transpose *and* its rows reordered.

    Keras flattens an (h, w, c) activation in H, W, C order; PyTorch flattens (c, h, w) in C, H,
    W order. The 1,024 numbers reaching cnn's dense1 are the same but arrive in another order,
    so the kernel's input rows must be permuted from HWC to CHW as well as transposed.
    """

    h: int
    w: int
    c: int

    def to_torch(self, arrays):
        kernel, bias = arrays
        out = kernel.shape[1]
        chw = kernel.reshape(self.h, self.w, self.c, out).transpose(2, 0, 1, 3)
        return [chw.reshape(-1, out).T, bias]

    def to_keras(self, arrays):
        weight, bias = arrays
        out = weight.shape[0]
        hwc = weight.T.reshape(self.c, self.h, self.w, out).transpose(1, 2, 0, 3)
        return [hwc.reshape(-1, out), bias]


class Conv1D(Transform):
    """Keras Conv1D kernel (k, in, out) <-> PyTorch Conv1d weight (out, in, k); bias=False for a
    convolution without one."""

    def __init__(self, bias: bool = True):
        self.torch_suffixes = ("weight", "bias") if bias else ("weight",)

    def to_torch(self, arrays):
        return [arrays[0].transpose(2, 1, 0), *arrays[1:]]

    def to_keras(self, arrays):
        return [arrays[0].transpose(2, 1, 0), *arrays[1:]]


class Conv2DTranspose(Conv2D):
    """Keras Conv2DTranspose kernel (kh, kw, out, in) <-> PyTorch ConvTranspose2d (in, out, kh, kw).

    Both frameworks store a transposed convolution's kernel as the forward convolution it undoes
    would (Keras out before in, PyTorch in before out), so Conv2D's permutation maps it exactly.
    No spatial flip: both are the gradient of a cross-correlation.
    """


class Embedding(Transform):
    """Keras Embedding (vocabulary, dim) and PyTorch Embedding (vocabulary, dim): the same table."""

    torch_suffixes = ("weight",)

    def to_torch(self, arrays):
        return list(arrays)

    def to_keras(self, arrays):
        return list(arrays)


class LayerNorm(Transform):
    """Keras LayerNormalization [gamma, beta] <-> PyTorch LayerNorm weight, bias: the same vectors
    (its epsilon does not travel with them: Keras 1e-3, PyTorch 1e-5 by default)."""

    def to_torch(self, arrays):
        return list(arrays)

    def to_keras(self, arrays):
        return list(arrays)


class BatchNorm(Transform):
    """Keras [gamma, beta, moving_mean, moving_variance] <-> PyTorch weight, bias, running_mean,
    running_var (and num_batches_tracked, a counter Keras has no use for: 0 on the way in).

    The weights port exactly; the hyperparameters do not travel with them and must be set in the
    PyTorch twin: eps 1e-3 (Keras) vs 1e-5 (PyTorch's default), and momentum 0.99 in Keras means
    0.01 in PyTorch, which weighs the new batch instead of the old average (default 0.1).
    """

    torch_suffixes = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def to_torch(self, arrays):
        gamma, beta, mean, variance = arrays
        return [gamma, beta, mean, variance, np.array(0, dtype=np.int64)]

    def to_keras(self, arrays):
        weight, bias, mean, variance, _ = arrays
        return [weight, bias, mean, variance]


_RNN = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


class LSTM(Transform):
    """Keras LSTM kernel (in, 4u), recurrent_kernel (u, 4u), one bias (4u) <-> PyTorch
    weight_ih (4u, in), weight_hh (4u, u) and two biases, gates in the same order (i, f, c, o).

    PyTorch adds bias_ih and bias_hh; Keras has one bias. Keras -> PyTorch puts it in bias_ih with
    bias_hh zero; PyTorch -> Keras sums the two. The function is the same both ways; a PyTorch
    -> Keras -> PyTorch trip moves all the bias into bias_ih (the sum is kept, the split is not).
    """

    torch_suffixes = _RNN

    def to_torch(self, arrays):
        kernel, recurrent, bias = arrays
        return [kernel.T, recurrent.T, bias, np.zeros_like(bias)]

    def to_keras(self, arrays):
        w_ih, w_hh, b_ih, b_hh = arrays
        return [w_ih.T, w_hh.T, b_ih + b_hh]


class BidirectionalLSTM(Transform):
    """Keras Bidirectional(LSTM): the forward then the backward LSTM's three arrays <-> PyTorch
    bidirectional LSTM's *_l0 and *_l0_reverse, each direction mapped as LSTM is."""

    torch_suffixes = (*_RNN, *(f"{name}_reverse" for name in _RNN))

    def to_torch(self, arrays):
        return LSTM().to_torch(arrays[:3]) + LSTM().to_torch(arrays[3:])

    def to_keras(self, arrays):
        return LSTM().to_keras(arrays[:4]) + LSTM().to_keras(arrays[4:])


class GRU(Transform):
    """Keras GRU (reset_after=True, Keras 3's default) <-> PyTorch GRU.

    Same equations (the reset gate applied after the recurrent matmul), but the gates are stored in
    another order: Keras z, r, h (update, reset, candidate); PyTorch r, z, n. Keras's bias is
    (2, 3u): row 0 the input bias, row 1 the recurrent bias, PyTorch's bias_ih and bias_hh.
    A Keras GRU with reset_after=False computes something PyTorch's GRU cannot; it has no port.
    """

    torch_suffixes = _RNN

    @staticmethod
    def _swap_first_two(a, axis):
        z, r, h = np.split(a, 3, axis=axis)  # a permutation of blocks: its own inverse
        return np.concatenate([r, z, h], axis=axis)

    def to_torch(self, arrays):
        kernel, recurrent, bias = arrays
        if bias.ndim != 2:
            raise ValueError("a Keras GRU with reset_after=False has no PyTorch equivalent")
        return [self._swap_first_two(kernel, 1).T, self._swap_first_two(recurrent, 1).T,
                self._swap_first_two(bias[0], 0), self._swap_first_two(bias[1], 0)]

    def to_keras(self, arrays):
        w_ih, w_hh, b_ih, b_hh = arrays
        return [self._swap_first_two(w_ih.T, 1), self._swap_first_two(w_hh.T, 1),
                np.stack([self._swap_first_two(b_ih, 0), self._swap_first_two(b_hh, 0)])]


class BidirectionalGRU(Transform):
    """Keras Bidirectional(GRU): the forward then the backward GRU's three arrays <-> PyTorch
    bidirectional GRU's *_l0 and *_l0_reverse, each direction mapped as GRU is."""

    torch_suffixes = BidirectionalLSTM.torch_suffixes

    def to_torch(self, arrays):
        return GRU().to_torch(arrays[:3]) + GRU().to_torch(arrays[3:])

    def to_keras(self, arrays):
        return GRU().to_keras(arrays[:4]) + GRU().to_keras(arrays[4:])


@dataclass
class MultiHeadAttention(Transform):
    """Keras MultiHeadAttention <-> PyTorch nn.MultiheadAttention (self-attention, d = heads x
    key_dim): Keras keeps query, key and value kernels (d, heads, key_dim) with biases (heads,
    key_dim), and an output kernel (heads, key_dim, d) with a bias (d); PyTorch one in_proj_weight
    (3d, d), the three projections stacked, one row per output, with in_proj_bias (3d), and an
    out_proj Linear. Both split the projected width into heads in the same order (head h takes
    columns h*key_dim to (h+1)*key_dim) and scale by 1/sqrt(key_dim): transposes and reshapes only.
    """

    heads: int
    key_dim: int
    torch_suffixes = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")

    def to_torch(self, arrays):
        q, q_bias, k, k_bias, v, v_bias, out, out_bias = arrays
        d = q.shape[0]
        weight = np.concatenate([kernel.reshape(d, -1).T for kernel in (q, k, v)])
        return [weight, np.concatenate([b.reshape(-1) for b in (q_bias, k_bias, v_bias)]),
                out.reshape(-1, out.shape[-1]).T, out_bias]

    def to_keras(self, arrays):
        weight, bias, out, out_bias = arrays
        d = out.shape[0]
        kernels = [w.T.reshape(d, self.heads, self.key_dim) for w in np.split(weight, 3)]
        biases = [b.reshape(self.heads, self.key_dim) for b in np.split(bias, 3)]
        return [kernels[0], biases[0], kernels[1], biases[1], kernels[2], biases[2],
                out.T.reshape(self.heads, self.key_dim, d), out_bias]


@dataclass(frozen=True)
class Rule:
    """One layer with weights: its name in each twin and the transform between them."""

    keras: str  # Keras layer name (as given in keras.py)
    torch: str  # PyTorch module name (as given in torch.py); keys are f"{torch}.{suffix}"
    transform: Transform


def _apply(rule: Rule, convert, arrays: list[np.ndarray]) -> list[np.ndarray]:
    try:
        return convert(arrays)
    except (ValueError, TypeError) as exc:  # a reshape or transpose that cannot fit
        shapes = [a.shape for a in arrays]
        raise InputError(f"port: {type(rule.transform).__name__} cannot map {rule.keras} <-> {rule.torch} "
                         f"(arrays {shapes}): {exc}") from None


def _check_keys(kind: str, covered: list[str], present: list[str]) -> None:
    missing, extra = sorted(set(present) - set(covered)), sorted(set(covered) - set(present))
    duplicated = sorted({k for k in covered if covered.count(k) > 1})
    if missing or extra or duplicated:
        raise InputError(
            f"port table does not match the {kind} twin: not covered {missing}, unknown {extra}, "
            f"covered twice {duplicated}"
        )


def _check_shapes(kind: str, produced: dict, template: dict) -> None:
    for key, array in produced.items():
        want = tuple(np.shape(template[key]))
        if array.shape != want:
            raise InputError(f"port: {kind} {key} would get shape {array.shape}, the twin has {want}")


def keras_to_torch(rules: list[Rule], keras_weights: KerasWeights, torch_template: TorchWeights) -> TorchWeights:
    """Ports Keras weights to a PyTorch state dict shaped like `torch_template`.

    Raises:
        InputError: the table and the twins disagree (keys or shapes).
    """
    _check_keys("Keras", [r.keras for r in rules], list(keras_weights))
    out: TorchWeights = {}
    for rule in rules:
        arrays = _apply(rule, rule.transform.to_torch, keras_weights[rule.keras])
        out.update({f"{rule.torch}.{s}": np.asarray(a, order="C") for s, a in zip(rule.transform.torch_suffixes, arrays)})
    _check_keys("PyTorch", list(out), list(torch_template))
    _check_shapes("PyTorch", out, torch_template)
    return out


def torch_to_keras(rules: list[Rule], torch_weights: TorchWeights, keras_template: KerasWeights) -> KerasWeights:
    """Ports a PyTorch state dict to Keras layer weights shaped like `keras_template`.

    Raises:
        InputError: the table and the twins disagree (keys or shapes).
    """
    covered = [f"{r.torch}.{s}" for r in rules for s in r.transform.torch_suffixes]
    _check_keys("PyTorch", covered, list(torch_weights))
    _check_keys("Keras", [r.keras for r in rules], list(keras_template))
    out: KerasWeights = {}
    for rule in rules:
        arrays = [torch_weights[f"{rule.torch}.{s}"] for s in rule.transform.torch_suffixes]
        out[rule.keras] = [np.asarray(a, order="C") for a in _apply(rule, rule.transform.to_keras, arrays)]
        for i, (got, want) in enumerate(zip(out[rule.keras], keras_template[rule.keras])):
            if got.shape != np.shape(want):
                raise InputError(f"port: Keras {rule.keras}[{i}] would get shape {got.shape}, the twin has {np.shape(want)}")
    return out
