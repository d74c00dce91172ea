"""Brings a freshly exported ONNX graph onto its model's contract, and proves it conforms.

Both exporters name things their own way (tf2onnx calls the output "Identity:0" and the batch
"unk__37"; torch.onnx calls it "batch"). A deployer must be able to swap one export for the
other, so after export every graph gets the spec's input/output names, a batch dimension
called "batch", deterministic node names and xdl's metadata, and then must pass
onnx.checker's full check and a comparison of its declared inputs/outputs with the spec.
"""

from __future__ import annotations

import re

import onnx
from onnx import helper

from xdl.errors import InputError

# The opset of every export, both routes: the highest tf2onnx 1.17 supports.
OPSET = 18


def apply(model: onnx.ModelProto, contract, metadata: dict[str, str], *, name: str, summary: str) -> onnx.ModelProto:
    """Renames I/O to the `contract` (an xdl.spec.Contract), names the dynamic dims, sets the graph's
    `name`, a doc string of its `summary` and the metadata; returns the model.

    Raises:
        InputError: the graph's inputs or outputs do not match the contract (count, dtype, shape).
    """
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    graph_inputs = [v for v in graph.input if v.name not in initializers]
    for values, tensors, kind in ((graph_inputs, contract.inputs, "inputs"), (graph.output, contract.outputs, "outputs")):
        if len(values) != len(tensors):
            raise InputError(
                f"{name}: exported graph has {len(values)} {kind}, the contract {len(tensors)}"
            )
        for value, tensor in zip(values, tensors):
            if value.name != tensor.name:
                _rename_all(graph, {value.name: tensor.name})
            dims = value.type.tensor_type.shape.dim
            for axis, symbol in tensor.dynamic_axes.items():  # "batch", and "seq" for a dynamic length
                dims[axis].Clear()
                dims[axis].dim_param = symbol
    _canonical_names(graph)
    _strip_debug_metadata(graph)
    graph.name = name
    # tf2onnx writes run-specific text here; a fixed description keeps exports byte-identical.
    graph.doc_string = f"xdl {name}: {summary}"
    model.doc_string = ""
    del model.metadata_props[:]
    for key, value in sorted(metadata.items()):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=str(value)))
    conforms(model, contract, name)
    return model


def _canonical_names(graph: onnx.GraphProto) -> None:
    """Orders the nodes canonically and names every node and internal value by its place.

    Exporters number things with process-wide counters (tf2onnx's "Reshape_shape__30" is
    "__60" in the next export), and tf2onnx also emits independent branches in varying order,
    so the same weights exported twice gave different bytes. Here the nodes are put in one
    deterministic topological order (_canonical_order), then a node is "<op>_<index>", a weight
    "<first consumer>_in<slot>" and an intermediate value "<producer>_out<slot>": the same
    scheme for both frameworks' exports. Loop and If bodies get the same treatment, prefixed
    with their node's name.
    """
    _canonical_order(graph)
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
    for node in graph.node:
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                _canonical_subgraph(sub, prefix=f"{node.name}_{attribute.name}")
    first_use = {name: i for i, name in enumerate(mapping.values())}
    ordered = sorted(graph.initializer, key=lambda t: first_use.get(t.name, len(first_use)))
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    _drop_value_info(graph)


def _canonical_subgraph(graph: onnx.GraphProto, prefix: str) -> None:
    """A Loop or If body: its own inputs, nodes, values and weights renamed by position under
    `prefix` (a body binds its inputs and outputs by position, so renaming them is safe);
    names it reads from the enclosing graph are left alone."""
    graph.name = prefix
    _order_equal_outputs(graph)
    # the formal inputs first: the canonical order keys on their names
    _rename_all(graph, {value.name: f"{prefix}_arg{slot}" for slot, value in enumerate(graph.input)})
    _canonical_order(graph)
    mapping: dict[str, str] = {}
    for t_index, tensor in enumerate(graph.initializer):
        mapping[tensor.name] = f"{prefix}_w{t_index}"
    for i, node in enumerate(graph.node):
        node.name = f"{prefix}_{node.op_type}_{i}"
        for slot, name in enumerate(node.output):
            if name:
                mapping[name] = f"{node.name}_out{slot}"
    _rename_all(graph, mapping)
    for node in graph.node:
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                _canonical_subgraph(sub, prefix=f"{node.name}_{attribute.name}")
    # The body's own I/O dims carry the exporter's counters ("unk__173"): left unnamed.
    for value in (*graph.input, *graph.output):
        for dim in value.type.tensor_type.shape.dim:
            dim.ClearField("dim_param")
    _drop_value_info(graph)


def _order_equal_outputs(graph: onnx.GraphProto) -> None:
    """tf2onnx hands a Keras GRU's new state to two Loop-body outputs, the value and an Identity
    of it, in an order that changes from process to process (it iterates a set). The two are
    equal, so the value goes first and the Identity second, always."""
    producer = {out: node for node in graph.node for out in node.output}
    names = [v.name for v in graph.output]
    for p in range(len(names)):
        for q in range(p + 1, len(names)):
            node = producer.get(names[p])
            if node is not None and node.op_type == "Identity" and node.input[0] == names[q]:
                first, second = onnx.ValueInfoProto(), onnx.ValueInfoProto()
                first.CopyFrom(graph.output[q])
                second.CopyFrom(graph.output[p])
                graph.output[p].CopyFrom(first)
                graph.output[q].CopyFrom(second)
                names[p], names[q] = names[q], names[p]


def _drop_value_info(graph: onnx.GraphProto) -> None:
    """Drops the shape annotations of intermediate values. They are optional hints that runtimes
    recompute, and the exporters' were not reliable: torch.onnx wrote a dynamic length as "seq"
    in one export and as the example's 8 in the next, in the same process, and a restated
    weight shape goes stale when a tool rewrites the weight (onnxruntime.quantization does)."""
    del graph.value_info[:]


def _canonical_order(graph: onnx.GraphProto) -> None:
    """Reorders the nodes into a topological order that depends only on the computation.

    Kahn's algorithm, always taking the ready node with the smallest key. A node's key is its
    op, attributes and the keys of its inputs: a graph input by name, a weight by a hash of its
    contents, a computed value by the position of the node that made it. No exporter-chosen
    name enters a key, so two exports of one model put their nodes in the same order.
    """
    import hashlib

    weights = {}
    for tensor in graph.initializer:
        bare = onnx.TensorProto()
        bare.CopyFrom(tensor)
        bare.name = ""
        weights[tensor.name] = "w:" + hashlib.sha256(bare.SerializeToString()).hexdigest()[:16]
    known = {v.name: "in:" + v.name for v in graph.input}
    produced = {out for node in graph.node for out in node.output if out}
    pending = list(graph.node)

    def value_key(name):
        return known.get(name) or weights.get(name) or ("outer:" + name if name else "")

    def node_key(node):
        attributes = []
        for a in node.attribute:
            if a.HasField("g") or len(a.graphs):
                attributes.append(a.name)  # a body's names are not canonical yet: its name only
            else:
                attributes.append(a.SerializeToString())
        return (node.op_type, node.domain, tuple(value_key(n) for n in node.input), tuple(attributes), len(node.output))

    for node in pending:
        if not node.domain:  # the default domain, written explicitly by some exports only
            node.ClearField("domain")
    ordered = []
    while pending:
        ready = [n for n in pending if all(i not in produced or i in known for i in n.input)]
        if not ready:  # not a DAG as given (cannot happen in a valid model): keep the rest as is
            ordered += pending
            break
        best = min(ready, key=node_key)
        pending.remove(best)
        for slot, out in enumerate(best.output):
            if out:
                known[out] = f"v{len(ordered)}:{slot}"
        ordered.append(best)
    copies = [onnx.NodeProto() for _ in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


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
                sub.doc_string = ""  # "graph for functional_2_1/gru_1/...": a process-wide counter
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


def conforms(model: onnx.ModelProto, contract, name: str) -> None:
    """Runs onnx.checker (full) and compares the declared I/O with the `contract` of the model `name`.

    Raises:
        InputError: the model is invalid or its I/O differs from the contract.
    """
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).splitlines()[0]
        unknown = re.search(r"No Op registered for (\w+)", first)
        whose = (f" (the exporter wrote {unknown[1]}, an op ONNX does not define: the exporter's limit, not the "
                 f"model's; compute that part outside the model)" if unknown else "")
        raise InputError(f"{name}: exported ONNX model is invalid: {first}{whose}")
    initializers = {t.name for t in model.graph.initializer}
    got = [declared(v) for v in model.graph.input if v.name not in initializers]
    got += [declared(v) for v in model.graph.output]
    want = [(t.name, t.dtype, tuple(t.shape)) for t in (*contract.inputs, *contract.outputs)]
    if got != want:
        raise InputError(f"{name}: exported I/O {got} does not match the contract {want}")
