"""A Dense layer applied to every step of a sequence, as tf2onnx writes it, rewritten as the
one MatMul it is.

Keras applies Dense to a (batch, steps, features) tensor directly; tf2onnx flattens the tensor
to (batch * steps, features), multiplies, and unflattens the result to (batch, steps, units),
computing both shapes at run time from the tensor's shape (14 Shape, Gather, Cast, ReduceProd,
Unsqueeze and Concat nodes for the tagger). ONNX's MatMul multiplies the last two axes of a
rank-3 tensor by a matrix itself, with the same dot products, which is what the PyTorch export
writes.

The proof is structural (xdl/exporting/expressions.py): both shape operands must print exactly
as "the first two dims of x multiplied, then its last" and "the first two dims of x, then the
matrix's columns", where the shape of x is its Shape, or, for x a Transpose of y, y's Shape
gathered in the permutation's order (tf2onnx's spelling).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from xdl.exporting import expressions, guard


def _shape_spellings(graph: onnx.GraphProto, x: str, show) -> list[str]:
    """How tf2onnx may spell the shape of x: Shape(x), or for x = Transpose(y), Shape(y) gathered."""
    spellings = [f"Shape({show(x)})"]
    producer = next((n for n in graph.node if x in n.output), None)
    if producer is not None and producer.op_type == "Transpose":
        perm = [list(helper.get_attribute_value(a)) for a in producer.attribute if a.name == "perm"]
        if perm:
            spellings.append(f"Gather(Shape({show(producer.input[0])}),[{','.join(map(str, perm[0]))}])")
    return spellings


def _flatten_shape(s: str) -> str:
    """[d0 * d1, d2] from the rank-3 shape s, as tf2onnx computes it."""
    dims = "Cast[to=6]({})".format(s)
    prod = "Unsqueeze(ReduceProd[keepdims=0,noop_with_empty_axes=1](Gather[axis=0]({},{}),[0]),[0])"
    return f"Cast[to=7](Concat[axis=0]({prod.format(dims, '[0,1]')},{prod.format(dims, '[2]')}))"


def _unflatten_shape(s: str, units: int) -> str:
    """[d0, d1, units] from the rank-3 shape s."""
    return f"Cast[to=7](Concat[axis=0](Gather[axis=0](Cast[to=6]({s}),[0,1]),[{units}]))"


def dense_over_steps(model: onnx.ModelProto) -> bool:
    """Rewrites, in place, each flatten-MatMul-unflatten chain proven to be a Dense over the
    steps of a rank-3 tensor as one MatMul. Returns whether any was rewritten."""
    graph = model.graph
    show = expressions.printer([graph], {})
    weights = {t.name: t for t in graph.initializer}
    changed = False
    for product in [n.output[0] for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]:
        matmul = next((n for n in graph.node if product in n.output), None)  # the graph is rebuilt below
        if matmul is None:
            continue
        flatten = next((n for n in graph.node if matmul.input[0] in n.output), None)
        users = [n for n in graph.node if matmul.output[0] in n.input]
        flat_users = [n for n in graph.node if flatten is not None and flatten.output[0] in n.input]
        if flatten is None or flatten.op_type != "Reshape" or len(users) != 1 or users[0].op_type != "Reshape" \
                or flat_users != [matmul] or matmul.output[0] in {v.name for v in graph.output}:
            continue
        unflatten, units = users[0], numpy_helper.to_array(weights[matmul.input[1]]).shape[-1]
        shapes = _shape_spellings(graph, flatten.input[0], show)
        if not any(show(flatten.input[1]) == _flatten_shape(s) and show(unflatten.input[1]) == _unflatten_shape(s, units)
                   for s in shapes):
            continue
        x, name = flatten.input[0], f"{matmul.name}_over_steps"
        graph.initializer.append(numpy_helper.from_array(np.array(0, np.int64), f"{name}_none"))
        empty = [helper.make_node("Size", [x], [f"{name}_size"]),
                 helper.make_node("Equal", [f"{name}_size", f"{name}_none"], [f"{name}_empty"])]
        guard.exporters_nodes_when(graph, [flatten, matmul, unflatten],
                                   [helper.make_node("MatMul", [x, matmul.input[1]], [unflatten.output[0]], name=name)],
                                   [unflatten.output[0]], weights[matmul.input[1]].data_type, empty, f"{name}_empty",
                                   f"{name}_if", shape=[None, None, units])
        show = expressions.printer([graph], {})  # the graph changed
        changed = True
    return changed
