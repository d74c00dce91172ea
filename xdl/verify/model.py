"""Reading a model.onnx safely (no external data anywhere, onnx.checker), and the precision its
graph computes in, read from the graph itself."""

from __future__ import annotations

from pathlib import Path

import onnx

from xdl.errors import InputError, first_line


def _subgraphs(graph: onnx.GraphProto):
    """The graph and every graph nested in its nodes' attributes (Loop, If and Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                yield from _subgraphs(sub)


def _external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0


def external_references(model: onnx.ModelProto) -> list[str]:
    """Names of every tensor stored outside the model: initializers (sparse ones too) of the
    graph and of every subgraph, and tensors held in node attributes (Constant's value...)."""
    found = []
    for graph in _subgraphs(model.graph):
        tensors = [*graph.initializer, *(s.values for s in graph.sparse_initializer)]
        for node in graph.node:
            for attribute in node.attribute:
                tensors += [*([attribute.t] if attribute.HasField("t") else []), *attribute.tensors]
                sparse = [*([attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []),
                          *attribute.sparse_tensors]
                tensors += [t for sp in sparse for t in (sp.values, sp.indices)]
        found += [t.name or "(unnamed)" for t in tensors if _external(t)]
    return found


def parse_model(model_bytes: bytes, where: Path) -> onnx.ModelProto:
    """Parses and checks a model; refuses one that refers to data outside itself.

    Raises:
        InputError: empty, not ONNX, external data anywhere, or invalid for onnx.checker.
    """
    if not model_bytes:
        raise InputError(f"{where} is empty; re-run `xdl export`")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(model_bytes)
    except Exception as exc:  # protobuf's DecodeError
        raise InputError(f"{where} is not an ONNX model ({type(exc).__name__}); re-run `xdl export`") from None
    external = external_references(model)
    if external:
        # xdl never writes external data; a reference to another file is not an xdl artifact.
        raise InputError(f"{where} refers to external data ({external[0][:80]!r}); refusing to load it")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError, and what the checker raises on odder input
        raise InputError(f"{where} is not a valid ONNX model: {first_line(exc)}") from None
    return model


# Where a value loses precision on its way to an output, by (domain, op type) and input index: a
# value that enters one of these inputs leaves it as 8-bit integers (None: every input). Only
# these count, so that a node must lie on the path of the values to matter: QDQ pairs beside the
# path, under a Mul by 0 or in the other branch of an If leave a path that loses nothing.
# DequantizeLinear is not here: its scale input carries a float to its output unrounded.
_QUANTIZING = {("", "QuantizeLinear"): None, ("com.microsoft", "QuantizeLinear"): None,
               ("", "DynamicQuantizeLinear"): None, ("com.microsoft", "DynamicQuantizeMatMul"): {0}}
# Shape and Size answer the same for any values of their input: no value travels through them.
_VALUE_FREE = {("", "Shape"), ("", "Size")}


def _op(node: onnx.NodeProto) -> tuple[str, str]:
    return ("" if node.domain in ("", "ai.onnx") else node.domain), node.op_type


def _casts_to_half(node: onnx.NodeProto) -> bool:
    return _op(node) == ("", "Cast") and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16 for a in node.attribute)


def _cuts(node: onnx.NodeProto, index: int, half: bool | None) -> bool:
    """Whether a value entering `node` at input `index` reaches its outputs only after losing its
    float32 precision (8-bit, and float16 too when `half`; neither when `half` is None), or not at all."""
    if _op(node) in _VALUE_FREE:
        return True
    if half is None:
        return False
    if _op(node) in _QUANTIZING:
        inputs = _QUANTIZING[_op(node)]
        return inputs is None or index in inputs
    return bool(half) and index == 0 and _casts_to_half(node)


def _graph_inputs(graph: onnx.GraphProto) -> list[str]:
    initialized = {t.name for t in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    return [i.name for i in graph.input if i.name not in initialized]


def _float32_paths(graph: onnx.GraphProto, tainted: set[str], half: bool | None) -> set[str]:
    """The values of `graph` that a float32 value from `tainted` (names in scope) reaches without
    passing a quantizing node (nor a cast to float16, when `half`; either, when `half` is None: every
    value that depends on them). Nodes are in topological order
    (onnx.checker holds that). A node with a body (If, Loop, Scan) passes on what its inputs or any
    of its bodies pass on, whichever branch would run: it is never a cut itself."""
    tainted = set(tainted)
    for node in graph.node:
        reached = any(name and name in tainted and not _cuts(node, i, half) for i, name in enumerate(node.input))
        for attribute in node.attribute:
            for body in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                own = {i.name for i in body.input} | {t.name for t in body.initializer}
                # Outer values the body refers to keep their state; its own inputs come from the
                # node's, so they carry float32 whenever any of the node's inputs does.
                inner = (tainted - own) | ({i.name for i in body.input} if reached else set())
                reached |= any(o.name in _float32_paths(body, inner, half) for o in body.output)
        if reached:
            tainted.update(o for o in node.output if o)
        else:
            tainted.difference_update(node.output)  # a name computed anew inside a body shadows the outer one
    return tainted


def computing_dtype(model: onnx.ModelProto) -> tuple[str, str]:
    """The precision a graph computes in, read from the graph itself (never from a manifest), and
    why, in a short phrase: "int8" when every path from an input to an output passes a quantizing
    node, "float16" when every one passes a cast to float16 or a quantizing node (or starts at a
    float16 input), else "float32". Nodes off those paths (dead, under a Mul by 0 beside a float32
    path, in an If branch beside a float32 one) cannot loosen the tolerance: what cannot be decided
    without running the graph is read the strict way."""
    graph = model.graph
    starts = set(_graph_inputs(graph))
    outputs = [o.name for o in graph.output]
    if not all(o in _float32_paths(graph, starts, half=None) for o in outputs):
        # "Every path is quantized" holds of no path at all: an output made of constants alone
        # loses nothing of the inputs, and is judged as float32.
        return "float32", "float32: an output does not depend on the inputs' values"
    if not any(o in _float32_paths(graph, starts, half=False) for o in outputs):
        return "int8", "int8: every path from an input to an output passes a quantize node"
    half_inputs = {i.name for i in graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16}
    if not any(o in _float32_paths(graph, starts - half_inputs, half=True) for o in outputs):
        return "float16", "float16: every path from an input to an output passes a float16 cast or a quantize node"
    if any(node.op_type in _INT8_OPS or _casts_to_half(node) for g in _subgraphs(graph) for node in g.node) or \
            any(t.data_type == onnx.TensorProto.FLOAT16 for g in _subgraphs(graph) for t in g.initializer):
        return "float32", "float32: a path from an input to an output passes no quantize or float16 node"
    return "float32", "float32: the graph has no quantize or float16 node"


# Ops of quantized graphs (onnxruntime.quantization's dynamic and static modes, standard and
# com.microsoft): only for the report's phrase; which of them matter is _QUANTIZING's.
_INT8_OPS = {"DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "MatMulInteger", "ConvInteger",
             "QLinearConv", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm"}
