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


def apply(model: onnx.ModelProto, spec, metadata: dict[str, str]) -> onnx.ModelProto:
    """Renames I/O to the contract, names the dynamic dims, sets metadata; returns the model.

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
                _rename_all(graph, {value.name: tensor.name})
            dims = value.type.tensor_type.shape.dim
            for axis, name in tensor.dynamic_axes.items():  # "batch", and "seq" for a dynamic length
                dims[axis].Clear()
                dims[axis].dim_param = name
    _canonical_names(graph)
    _strip_debug_metadata(graph)
    graph.name = spec.name
    # tf2onnx writes run-specific text here; a fixed description keeps exports byte-identical.
    graph.doc_string = f"xdl {spec.name}: {spec.summary}"
    model.doc_string = ""
    del model.metadata_props[:]
    for key, value in sorted(metadata.items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=str(value)))
    check(model, spec)
    return model


def _canonical_names(graph: onnx.GraphProto) -> None:
    """Names every node and internal value by its place in the graph.

    Exporters number things with process-wide counters (tf2onnx's "Reshape_shape__30" is
    "__60" in the next export), so the same weights exported twice gave different bytes. Here a
    node is "<op>_<index>", a weight is "<first consumer>_in<slot>" and an intermediate value is
    "<producer>_out<slot>": deterministic, and the same scheme for both frameworks' exports.
    """
    for i, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{i}"
    keep = {v.name for v in (*graph.input, *graph.output)}
    initializers = {t.name for t in graph.initializer}
    mapping: dict[str, str] = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            if name in initializers and name not in keep and name not in mapping:
                mapping[name] = f"{node.name}_in{slot}"
        for slot, name in enumerate(node.output):
            if name and name not in keep and name not in mapping:
                mapping[name] = f"{node.name}_out{slot}"
    _rename_all(graph, mapping)
    first_use = {name: i for i, name in enumerate(mapping.values())}
    ordered = sorted(graph.initializer, key=lambda t: first_use.get(t.name, len(first_use)))
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    # value_info restating an initializer's shape is redundant (the initializer has its dims) and
    # goes stale when a tool rewrites the weight in place, as onnxruntime.quantization does.
    initializer_names = {t.name for t in graph.initializer}
    infos = sorted((v for v in graph.value_info if v.name not in initializer_names), key=lambda v: v.name)
    del graph.value_info[:]
    graph.value_info.extend(infos)


def _strip_debug_metadata(graph: onnx.GraphProto) -> None:
    """Drops exporters' per-node and per-value metadata (torch.onnx records stack traces with
    absolute paths of the machine that exported): it made exports differ between checkouts and
    leaked the exporting machine's paths into shipped files. The model's own metadata stays."""
    del graph.metadata_props[:]
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        del value.metadata_props[:]
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                _strip_debug_metadata(sub)


def _rename_all(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    """Applies a rename to a graph and to the subgraphs (Loop/If bodies) that see its values."""
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                _rename_all(sub, mapping)
    for value in (*graph.initializer, *graph.input, *graph.output, *graph.value_info):
        value.name = mapping.get(value.name, value.name)


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    """How many nodes of each op type the graph holds, subgraphs (Loop bodies) included: what
    an exporter made of the model (one LSTM op, or a Loop of small ops)."""
    counts: dict[str, int] = {}

    def walk(graph):
        for node in graph.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
            for attribute in node.attribute:
                for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                    walk(sub)

    walk(model.graph)
    return dict(sorted(counts.items()))


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
