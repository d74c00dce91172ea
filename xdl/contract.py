"""Brings a freshly exported ONNX graph onto its model's contract, and checks it.

Both exporters name things their own way (tf2onnx calls the output "Identity:0" and the batch
"unk__37"; torch.onnx calls it "batch"). A deployer must be able to swap one export for the
other, so after export every graph gets the spec's input/output names, a batch dimension
called "batch", deterministic node names and xdl's metadata, and then must pass
onnx.checker's full check and a comparison of its declared inputs/outputs with the spec.
"""

from __future__ import annotations

import onnx
from onnx import helper

from xdl.errors import InputError


def _rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name == old:
            value.name = new


def apply(model: onnx.ModelProto, spec, metadata: dict[str, str]) -> onnx.ModelProto:
    """Renames I/O to the contract, names the batch dim, sets metadata; returns the model.

    Raises:
        InputError: the graph's inputs or outputs do not match the spec (count, dtype, shape).
    """
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    graph_inputs = [v for v in graph.input if v.name not in initializers]
    for values, tensors, kind in ((graph_inputs, spec.inputs, "inputs"), (graph.output, spec.outputs, "outputs")):
        if len(values) != len(tensors):
            raise InputError(
                f"{spec.name}: exported graph has {len(values)} {kind}, the contract {len(tensors)}"
            )
        for value, tensor in zip(values, tensors):
            if value.name != tensor.name:
                _rename_value(graph, value.name, tensor.name)
            batch = value.type.tensor_type.shape.dim[0]
            batch.Clear()
            batch.dim_param = "batch"
    # Exporters number their nodes with process-wide counters; position-based names make two
    # exports of the same weights comparable and keep the graph readable.
    for i, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{i}"
    graph.name = spec.name
    del model.metadata_props[:]
    for key, value in sorted(metadata.items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=str(value)))
    check(model, spec)
    return model


def declared(value: onnx.ValueInfoProto) -> tuple[str, str, tuple]:
    """(name, numpy dtype name, shape with None for symbolic dims) of a graph input/output."""
    tensor_type = value.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
    return value.name, dtype, shape


def check(model: onnx.ModelProto, spec) -> None:
    """Runs onnx.checker (full) and compares the declared I/O with the spec's contract.

    Raises:
        InputError: the model is invalid or its I/O differs from the contract.
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise InputError(f"{spec.name}: exported ONNX model is invalid: {str(exc).splitlines()[0]}")
    initializers = {t.name for t in model.graph.initializer}
    got = [declared(v) for v in model.graph.input if v.name not in initializers]
    got += [declared(v) for v in model.graph.output]
    want = [(t.name, t.dtype, tuple(t.shape)) for t in (*spec.inputs, *spec.outputs)]
    if got != want:
        raise InputError(f"{spec.name}: exported I/O {got} does not match the contract {want}")
