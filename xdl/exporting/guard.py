"""A rewrite that is exact on most inputs, kept exact on all: where its proof does not hold,
the exporter's own nodes run instead.

A structural proof (xdl/exporting/recurrent.py, sequences.py) shows that a faster spelling
computes the same formula, but two spellings of one formula can still part on inputs the
formula says little about: ONNX Runtime's GRU kernel clamps its gates and so turns a NaN into
a finite probability, and aborts the process on an empty batch, where tf2onnx's Loop gives NaN
and an empty result; tf2onnx's Reshape reads a 0 in its target shape as "keep this dim" and
refuses a sequence of length 0 that one MatMul answers. `exporters_nodes_when` therefore
replaces the exporter's nodes by an If: when a condition computed from the input says the
proof may not hold (the input is empty, or holds NaN or Inf), the If runs the exporter's nodes
themselves (moved into its then-branch, with the nodes only they used); otherwise the fast
ones. The optimised graph then answers, refuses or aborts exactly where the exporter's does.
"""

from __future__ import annotations

import onnx
from onnx import helper


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every value a node reads: its inputs, and what its subgraphs read from outside."""
    names = set(node.input)
    for attribute in node.attribute:
        for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
            for inner in sub.node:
                names |= _reads(inner)
    return names - {""}


def exporters_nodes_when(graph: onnx.GraphProto, old: list[onnx.NodeProto], new: list[onnx.NodeProto],
                         outputs: list[str], elem_type: int, condition: list[onnx.NodeProto], flag: str,
                         name: str, shape=None) -> None:
    """Replaces, in place, the nodes `old` (which compute `outputs`) by If(flag, then: `old`,
    else: `new`), where `new` computes the same `outputs` and the nodes `condition` compute the
    boolean scalar `flag`; `shape` (None for an unknown dim) tells the later rules the outputs' rank. Nodes whose every result only `old` used move into the then-branch
    with them (a shape computation only a Reshape read), so the fast path does not run them."""
    moved = [n for n in graph.node if any(n is o for o in old)]
    used_by_graph = {v.name for v in graph.output}
    changed = True
    while changed:  # add the nodes every reader of which has moved, until none is left
        changed = False
        readers: dict[str, list] = {}
        for node in (*graph.node, *new, *condition):  # what the fast path and the test read stays out
            for value in _reads(node):
                readers.setdefault(value, []).append(node)
        for node in graph.node:
            if any(node is m for m in moved) or any(out in used_by_graph for out in node.output):
                continue
            users = [u for out in node.output if out for u in readers.get(out, [])]
            if users and all(any(u is m for m in moved) for u in users):
                moved.append(node)
                changed = True
    order = {id(n): i for i, n in enumerate(graph.node)}
    moved.sort(key=lambda n: order[id(n)])  # the graph's own order is a topological one
    then_nodes = [onnx.NodeProto() for _ in moved]
    for copy, node in zip(then_nodes, moved):
        copy.CopyFrom(node)
    renamed = {out: f"{out}_exporters" for out in outputs}
    fast = {out: f"{out}_rewritten" for out in outputs}
    for node in then_nodes:
        node.output[:] = [renamed.get(o, o) for o in node.output]
    for node in new:
        node.output[:] = [fast.get(o, o) for o in node.output]
    branch = lambda nodes, names, suffix: helper.make_graph(  # noqa: E731
        nodes, f"{name}_{suffix}", [], [helper.make_tensor_value_info(names[o], elem_type, shape) for o in outputs])
    choice = helper.make_node("If", [flag], list(outputs), name=name,
                              then_branch=branch(then_nodes, renamed, "exporters"),
                              else_branch=branch(new, fast, "rewritten"))
    kept = [n for n in graph.node if not any(n is m for m in moved)]
    del graph.node[:]
    graph.node.extend(_topological([*kept, *condition, choice]))


def _topological(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The nodes in an order where each comes after the producers of all it reads, its
    subgraphs' reads from outside included; otherwise in the order given."""
    produced = {out for n in nodes for out in n.output if out}
    done: set[str] = set()
    pending, ordered = list(nodes), []
    while pending:
        ready = next((n for n in pending if all(v not in produced or v in done for v in _reads(n))), None)
        if ready is None:  # a cycle cannot come from a valid graph: keep the rest as given
            ordered += pending
            break
        pending.remove(ready)
        done |= set(ready.output)
        ordered.append(ready)
    copies = [onnx.NodeProto() for _ in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    return copies
