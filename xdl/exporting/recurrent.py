"""A Keras GRU that tf2onnx wrote as a Loop, rewritten as the one ONNX GRU op it computes.

tf2onnx turns LSTM layers into ONNX's LSTM op, but not Keras 3's GRU: its GRU rewriter looks for
the graph Keras 2 traced, so the layer arrives as a Loop over a 30-node body. ONNX Runtime runs
that ~13x slower than the GRU op at batch 1, and onnx's reference evaluator stacks the Loop's
outputs differently from ORT (docs/routes.md).

The proof is structural. Every value the Loop reads and writes is printed as an expression of
the graph's inputs, constants and the loop's own arguments, and must equal, character for
character, the expression the equations of a Keras GRU cell with reset_after=True give
(_keras_gru_step below, written from those equations):

    z = sigmoid(x W_z + b_z + h R_z + c_z)        r = sigmoid(x W_r + b_r + h R_r + c_r)
    h~ = tanh(x W_h + b_h + r * (h R_h + c_h))    h' = z * h + (1 - z) * h~

with the loop running once per time step from a zero state, and the graph using only the last
state. ONNX's GRU with linear_before_reset=1 is defined by the same equations (its W, R and B
are Keras's kernel, recurrent kernel and the two bias rows, transposed), so the rewrite changes
the order of floating-point operations and nothing else. Anything else, including a body that
differs by one node, is left as tf2onnx wrote it. The rewritten graph still has to reproduce
the native outputs on ORT before xdl keeps it (xdl/exporting/__init__.py).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from xdl.exporting import expressions, guard

INT_MAX = 2**31 - 1  # tf2onnx's "to the end" in a Slice


def _keras_gru_step(units: int) -> str:
    """h' of a Keras GRU cell (reset_after=True), as tf2onnx spells each operation. arg2 is the
    time step, arg3 the state h, arg5 the two bias rows, arg6 the kernel, arg7 the recurrent
    kernel; "outer" is the time-major input sequence the loop reads."""
    x = "Gather(outer,arg2)"
    x_proj = f"Add(MatMul({x},arg6),Squeeze(Split#0[axis=0,num_outputs=2](arg5),[0]))"  # x W + b
    h_proj = "Add(MatMul(arg3,arg7),Squeeze(Split#1[axis=0,num_outputs=2](arg5),[0]))"  # h R + c

    def from_x(gate: int) -> str:  # z, r, h~ columns of x W + b
        return f"Split#{gate}[axis=-1,num_outputs=3]({x_proj})"

    def from_h(gate: int) -> str:  # the same columns of h R + c
        end = INT_MAX if gate == 2 else (gate + 1) * units
        return f"Slice({h_proj},[0,{gate * units}],[{INT_MAX},{end}],[0,1])"

    z = f"Sigmoid(Add({from_x(0)},{from_h(0)}))"
    r = f"Sigmoid(Add({from_x(1)},{from_h(1)}))"
    candidate = f"Tanh(Add({from_x(2)},Mul({r},{from_h(2)})))"
    return f"Add(Mul({z},arg3),Mul(Sub(1.0,{z}),{candidate}))"


def loop_as_gru(model: onnx.ModelProto) -> bool:
    """Rewrites, in place, each Loop proven to be a Keras GRU whose last state alone is used.
    Returns whether any was rewritten."""
    changed = False
    for loop in [n for n in model.graph.node if n.op_type == "Loop"]:
        found = _match(model.graph, loop)
        if found is not None:
            _replace(model.graph, loop, *found)
            changed = True
    return changed


def _match(graph: onnx.GraphProto, loop: onnx.NodeProto):
    """(the sequence's name, kernel, recurrent kernel, bias, the last-state consumers) if `loop`
    is a Keras GRU over the whole sequence, else None."""
    body = loop.attribute[0].g
    if len(loop.input) != 8 or len(body.output) != 8 or len(loop.output) != 7:
        return None
    args = {v.name: f"arg{i}" for i, v in enumerate(body.input)}
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    bias, kernel, recurrent = (weights.get(name) for name in loop.input[5:8])
    if bias is None or kernel is None or recurrent is None or recurrent.ndim != 2:
        return None
    units = recurrent.shape[0]
    gather = next((n for n in body.node if n.op_type == "Gather" and args.get(n.input[1]) == "arg2"), None)
    if gather is None or gather.input[0] in args or bias.shape != (2, 3 * units) or kernel.shape[1] != 3 * units:
        return None
    outer = expressions.printer([graph], {})
    inner = expressions.printer([graph, body], {**args, gather.input[0]: "outer"})

    def length(sequence: str) -> str:  # the number of time steps: the sequence's first dim
        return f"Squeeze(Slice(Cast[to=6](Shape({sequence})),[0],[1],[0]),[0])"

    steps = length(outer(gather.input[0]))
    step = _keras_gru_step(units)
    expected_loop_inputs = [f"Cast[to=7]({steps})", f"And(Less(0.0,Cast[to=1]({steps})),Less(0.0,Cast[to=1]({steps})))",
                            "0", None, steps]
    expected_body_outputs = [f"And(Less(Cast[to=1](arg0),Cast[to=1]({length('outer')})),"
                             f"Less(Cast[to=1](Add(arg2,1)),Cast[to=1](arg4)))",
                             "Add(arg2,1)", step, "arg4", "arg5", "arg6", "arg7", step]
    for name, want in zip(loop.input, expected_loop_inputs):
        if want is not None and outer(name) != want:
            return None
    if not outer(loop.input[3]).startswith("Expand(0.0,"):  # the initial state: zeros
        return None
    if [inner(v.name) for v in body.output] != expected_body_outputs:
        return None
    users = _last_state_users(graph, loop)
    return None if users is None else (gather.input[0], kernel, recurrent, bias, users)


def _last_state_users(graph: onnx.GraphProto, loop: onnx.NodeProto):
    """The Squeeze that takes the last step of the Loop's state sequence, if that is the one
    use of anything the Loop computes; else None."""
    used = {name for node in graph.node for name in node.input} | {v.name for v in graph.output}
    if any(out in used for out in loop.output[:6]):
        return None
    users = [n for n in graph.node if loop.output[6] in n.input]
    if len(users) != 1 or users[0].op_type != "Slice":
        return None
    last = expressions.printer([graph], {loop.output[6]: "states"})(users[0].output[0])
    squeeze = [n for n in graph.node if users[0].output[0] in n.input]
    if last != f"Slice(states,[-1],[{INT_MAX}],[0])" or len(squeeze) != 1 or squeeze[0].op_type != "Squeeze":
        return None
    if expressions.printer([graph], {users[0].output[0]: "last"})(squeeze[0].output[0]) != "Squeeze(last,[0])":
        return None
    return users[0], squeeze[0]


def _replace(graph, loop, sequence, kernel, recurrent, bias, users) -> None:
    """The Loop, its last-state Slice and Squeeze become an If: ONNX's GRU op on a non-empty,
    finite sequence, the exporter's own nodes otherwise (xdl/exporting/guard.py). ORT's GRU
    kernel clamps its gates, so a NaN came out as a finite probability where the Loop gives
    NaN, and it aborts the process on an empty batch or sequence, where the Loop answers or
    refuses; Inf goes to the Loop too, which alone says what x W does with it."""
    slice_node, squeeze = users
    units = recurrent.shape[0]
    prefix = f"{loop.name}_gru"
    graph.initializer.extend([
        numpy_helper.from_array(np.ascontiguousarray(kernel.T[None]), f"{prefix}_W"),  # [1, 3u, in], gates z, r, h
        numpy_helper.from_array(np.ascontiguousarray(recurrent.T[None]), f"{prefix}_R"),  # [1, 3u, u]
        numpy_helper.from_array(np.ascontiguousarray(bias.reshape(1, 6 * units)), f"{prefix}_B"),  # [W_b, R_b]
        numpy_helper.from_array(np.array([0], np.int64), f"{prefix}_axes"),
        numpy_helper.from_array(np.array(0.0, np.float32), f"{prefix}_zero"),
        numpy_helper.from_array(np.array(0, np.int64), f"{prefix}_none"),
    ])
    gru = helper.make_node("GRU", [sequence, f"{prefix}_W", f"{prefix}_R", f"{prefix}_B"], ["", f"{prefix}_last"],
                           name=prefix, hidden_size=units, linear_before_reset=1)
    last = helper.make_node("Squeeze", [f"{prefix}_last", f"{prefix}_axes"], [squeeze.output[0]], name=f"{prefix}_squeeze")
    test = [  # empty, or a NaN or Inf anywhere (x * 0 summed is NaN exactly then)
        helper.make_node("Size", [sequence], [f"{prefix}_size"]),
        helper.make_node("Equal", [f"{prefix}_size", f"{prefix}_none"], [f"{prefix}_empty"]),
        helper.make_node("Mul", [sequence, f"{prefix}_zero"], [f"{prefix}_zeros"]),
        helper.make_node("ReduceSum", [f"{prefix}_zeros"], [f"{prefix}_sum"], keepdims=0),
        helper.make_node("IsNaN", [f"{prefix}_sum"], [f"{prefix}_nonfinite"]),
        helper.make_node("Or", [f"{prefix}_empty", f"{prefix}_nonfinite"], [f"{prefix}_as_exported"]),
    ]
    guard.exporters_nodes_when(graph, [loop, slice_node, squeeze], [gru, last], [squeeze.output[0]],
                               onnx.TensorProto.FLOAT, test, f"{prefix}_as_exported", f"{prefix}_if",
                               shape=[None, units])
