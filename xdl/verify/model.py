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


# Ops that only a quantized (int8) graph holds, from onnxruntime.quantization's dynamic and
# static (QDQ) modes, standard and com.microsoft.
_INT8_OPS = {"DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "MatMulInteger", "ConvInteger",
             "QLinearConv", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm"}


def computing_dtype(model: onnx.ModelProto) -> str:
    """The precision a graph computes in, read from the graph itself (never from a manifest):
    "int8" if it quantizes, "float16" if it holds or casts to float16 tensors, else "float32"."""
    ops, half = set(), False
    for graph in _subgraphs(model.graph):
        ops |= {node.op_type for node in graph.node}
        half |= any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)
        half |= any(node.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16
                                                    for a in node.attribute) for node in graph.node)
    if ops & _INT8_OPS:
        return "int8"
    return "float16" if half else "float32"
