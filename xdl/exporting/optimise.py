"""Graph optimisation after export: rewrites of what exporters spell slowly, then onnx-ir's
clean-up passes. What ORT's own optimiser leaves in a tf2onnx graph is what costs; `xdl routes`
measures each route's graph with and without this (docs/routes.md).

The rewrites, each applied only where its condition proves it equal:
- loop-as-gru (xdl/exporting/recurrent.py): a Keras GRU that tf2onnx wrote as a Loop becomes
  ONNX's GRU op; the loop body must be, node for node, the GRU equations. The Loop still runs
  on an empty or non-finite sequence, where ORT's GRU kernel differs (xdl/exporting/guard.py).
- negative-id-guard-as-where: Keras's Embedding looks ids up through `take`, which first maps
  negative ids to the end of the table; tf2onnx spells that as nine nodes (Cast, Less, Cast,
  Not, Cast, Mul, Add, Mul, Add) in front of every Gather. They become the three that say the
  same, Where(ids < 0, ids + n, ids), for every int64 id: an id below -n is still wrapped once
  before the Gather, as the exporter's graph does (dropping the guard, as an earlier rewrite
  did, made the Gather refuse those ids where the exporter's graph answered).
- row-dot-as-reduce-sum: Keras's Dot(axes=1) of two (batch, k) tensors, which tf2onnx writes
  as a batch of (1, k) @ (k, 1) MatMuls between Unsqueezes and a Squeeze, becomes the k
  products summed (what the PyTorch twin computes), over axis 1 spelled as 1: ONNX Runtime
  reduces an empty tensor over axis -1 to the wrong shape ((0, k), not (0, 1)).
- dense-as-gemm: a Dense layer's MatMul then Add of the bias, on a 2-D input, becomes one Gemm
  (as torch.onnx writes nn.Linear).
- dense-over-steps (xdl/exporting/sequences.py): a Dense on every step of a sequence, which
  tf2onnx flattens and unflattens around a MatMul with shapes computed at run time, becomes the
  one rank-3 MatMul it is, except on an empty tensor, where tf2onnx's Reshape refuses what
  the MatMul would answer (the exporter's nodes then run: xdl/exporting/guard.py).
- conv-bias-inside-conv, relu-before-squeeze, squeeze-unsqueeze-pair: a Keras Conv1D is a Conv
  of height 1 whose height tf2onnx squeezes away before adding the bias and applying the Relu,
  and unsqueezes again for the next pooling. The bias moves into the Conv (it is per channel),
  the Relu before the Squeeze (it is element-wise), and a Squeeze followed by the Unsqueeze of
  the same axes goes (Squeeze removes only axes of size 1): ORT can then fuse Conv and Relu.
Each must be an identity on every input, not only on the test domain: NaN, Inf, empty batches
and sequences, and ids out of range give what the exporter's graph gives, or the same refusal
(tests/verify/test_bounds.py compares the two graphs there under ORT). The guard's Where,
relu-before-squeeze and squeeze-unsqueeze-pair change no number; the others may change the
order of floating-point additions, never the formula. Then onnx-ir's passes turn Constant nodes into
initializers and drop Identities, repeated subexpressions (tf2onnx computes one Shape twice) and
unused nodes.

xdl keeps an optimised graph only when ONNX Runtime reproduces the native outputs from it
within the model's tolerance (xdl.exporting.exported), and `xdl export check` proves the
bytes reproducible.
"""

from __future__ import annotations

import numpy as np
import onnx

from xdl.errors import require
from xdl.exporting import recurrent, sequences

# onnxscript (and onnx-ir with it) comes with the tf and torch extras, not with the core: a core
# install that reaches here is told which extra to install (exit 3)
ir = require("onnx_ir")
passes = require("onnx_ir.passes.common")
pattern = require("onnxscript.rewriter.pattern")


def _negative_id_guard(op, ids, rows, zero):
    """tf2onnx's `where(ids < 0, ids + rows, ids)` for an Embedding's lookup."""
    negative = op.Less(op.Cast(ids, to=onnx.TensorProto.FLOAT), zero)
    wrapped = op.Mul(op.Cast(negative, to=onnx.TensorProto.INT64), op.Add(ids, rows))
    kept = op.Mul(ids, op.Cast(op.Not(negative), to=onnx.TensorProto.INT64))
    return op.Add(wrapped, kept)


def _ids_wrapped_once(op, ids, rows, zero):
    """The same mapping in three nodes: the sign test on the id itself is the test on its
    float cast (a cast never moves an int64 across 0), and where the nine nodes multiply the
    two candidates by 0 and 1 and add, Where picks one (int64 overflow of ids + rows wraps the
    same, and is multiplied by 0 there)."""
    return op.Where(op.Less(ids, op.Constant(value=ir.tensor(np.array(0, np.int64)))), op.Add(ids, rows), ids)


def _compares_with_zero(context, ids, rows, zero, **_) -> bool:
    """The guard tests ids < 0 (a float zero compared with the cast ids); ids are int64 (the
    nine nodes multiply them with an int64 cast, so they cannot be anything else)."""
    return _scalar(zero) == 0


def _scalar(value):
    const = value.const_value
    if const is None or const.size != 1:
        return None
    return const.numpy().reshape(()).item()


def _row_dot_as_matmul(op, a, b, one, two):
    """Keras's Dot(axes=1) of two (batch, k) tensors as tf2onnx writes it: a batch of
    (1, k) @ (k, 1) matrix products, squeezed back to (batch, 1)."""
    return op.Squeeze(op.MatMul(op.Unsqueeze(a, one), op.Unsqueeze(b, two)), one)


def _row_dot_as_sum(op, a, b, one, two):
    """The same k products summed: what the PyTorch twin's (u * i).sum(1, keepdim=True) is.
    Axis 1, not -1: ORT's ReduceSum over a negative axis of an empty batch returns the input's
    shape, (0, k), where the MatMuls give (0, 1)."""
    return op.ReduceSum(op.Mul(a, b), op.Constant(value_ints=[1]), keepdims=1)


def _rank_two_rows(context, a, b, one, two, **_) -> bool:
    return (_scalar(one) == 1 and _scalar(two) == 2
            and all(v.shape is not None and len(v.shape) == 2 for v in (a, b)))


def _dense_as_matmul_add(op, a, weight, bias):
    """A Dense layer as tf2onnx writes it: MatMul, then Add of the bias."""
    return op.Add(op.MatMul(a, weight), bias)


def _dense_as_gemm(op, a, weight, bias):
    return op.Gemm(a, weight, bias)


def _rows_times_constant_matrix(context, a, weight, bias, **_) -> bool:
    """Gemm takes a 2-D input, a 2-D matrix and a bias broadcast over the rows."""
    w, b = weight.const_value, bias.const_value
    return (a.shape is not None and len(a.shape) == 2 and w is not None and b is not None
            and len(w.shape) == 2 and len(b.shape) == 1 and b.shape[0] == w.shape[1])


def _bias_after_squeezed_conv(op, x, weight, bias, axes):
    """A Keras Conv1D as tf2onnx writes it: a 2-D Conv of height 1 without bias, the height
    squeezed away, then the bias added per channel."""
    return op.Add(op.Squeeze(op.Conv(x, weight, _allow_other_attributes=True, _outputs=["conv"]), axes), bias)


def _bias_inside_conv(op, x, weight, bias, axes, conv, **_):
    attributes = {name: attr.value for name, attr in conv.producer().attributes.items()}
    per_channel = op.Constant(value=ir.tensor(bias.const_value.numpy().reshape(-1)))  # (1, C, 1) -> (C,)
    return op.Squeeze(op.Conv(x, weight, per_channel, **attributes), axes)


def _per_channel_bias(context, x, weight, bias, axes, conv, **_) -> bool:
    """The bias is (1, channels, 1), the squeezed axis is the unit height (2)."""
    w, b = weight.const_value, bias.const_value
    return (w is not None and b is not None and len(w.shape) == 4 and tuple(b.shape) == (1, w.shape[0], 1)
            and _ints(axes) == [2])


def _relu_of_squeeze(op, t, axes):
    return op.Relu(op.Squeeze(t, axes))


def _squeeze_of_relu(op, t, axes):
    """Relu is element-wise: squeezing before or after gives the same tensor."""
    return op.Squeeze(op.Relu(t), axes)


def _unsqueeze_of_squeeze(op, t, axes, again):
    return op.Unsqueeze(op.Squeeze(t, axes), again)


def _same_tensor(op, t, axes, again):
    return op.Identity(t)


def _same_axes(context, t, axes, again, **_) -> bool:
    """Squeeze removes only axes of size 1, so putting the same axes back restores the tensor."""
    return _ints(axes) is not None and _ints(axes) == _ints(again)


def _ints(value):
    const = value.const_value
    return None if const is None else [int(v) for v in const.numpy().ravel()]


RULES = [
    pattern.RewriteRule(_negative_id_guard, _ids_wrapped_once, _compares_with_zero, name="negative-id-guard-as-where"),
    pattern.RewriteRule(_row_dot_as_matmul, _row_dot_as_sum, _rank_two_rows, name="row-dot-as-reduce-sum"),
    pattern.RewriteRule(_dense_as_matmul_add, _dense_as_gemm, _rows_times_constant_matrix, name="dense-as-gemm"),
    pattern.RewriteRule(_bias_after_squeezed_conv, _bias_inside_conv, _per_channel_bias, name="conv-bias-inside-conv"),
    pattern.RewriteRule(_relu_of_squeeze, _squeeze_of_relu, name="relu-before-squeeze"),
    pattern.RewriteRule(_unsqueeze_of_squeeze, _same_tensor, _same_axes, name="squeeze-unsqueeze-pair"),
]


PASSES = {"constants-as-initializers": lambda: passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
          "identity-elimination": passes.IdentityEliminationPass,
          "common-subexpression-elimination": passes.CommonSubexpressionEliminationPass,
          "unused-node-removal": passes.RemoveUnusedNodesPass}


def optimise(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """The rewrites (RULES), then Identity, repeated-subexpression and dead-node removal.

    Returns:
        (the optimised model, the names of the rules and passes that changed it, in order)
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())  # the caller's stays as it is
    changed = ["loop-as-gru"] if recurrent.loop_as_gru(model) else []
    changed += ["dense-over-steps"] if sequences.dense_over_steps(model) else []
    graph = ir.from_proto(model)
    passes.ShapeInferencePass()(graph)  # the rules' conditions read ranks
    changed += [rule.name for rule in RULES if pattern.RewriteRuleSet([rule]).apply_to_model(graph)]
    changed += [name for name, step in PASSES.items() if step()(graph).modified]
    return ir.to_proto(graph), changed
