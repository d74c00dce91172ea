"""Values of an ONNX graph printed as expressions, for rewrites whose proof is structural.

A value prints as the operations that compute it, down to the graph's inputs ("input"), its
constants (small ones by value, larger ones as "W") and names given by the caller (a loop
body's arguments). Two values that print the same compute the same thing from the same
inputs; a rewrite compares what it finds with the expression it can replace
(xdl/exporting/recurrent.py, xdl/exporting/sequences.py).
"""

from __future__ import annotations

import functools

import onnx
from onnx import helper, numpy_helper


def printer(graphs: list[onnx.GraphProto], args: dict[str, str]):
    """A function printing a value of these (nested) graphs as an expression: graph inputs
    print as "input", small constants as their values, larger ones as "W", the loop body's
    arguments as given in `args`."""
    producers, constants = {}, {}
    for g in graphs:
        producers.update({out: node for node in g.node for out in node.output})
        constants.update({t.name: t for t in g.initializer})
    inputs = {v.name for g in graphs for v in g.input} - set(args) - set(constants)

    def attrs(node) -> str:
        shown = [f"{a.name}={_value(helper.get_attribute_value(a))}" for a in sorted(node.attribute, key=lambda a: a.name)
                 if a.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)]
        return f"[{','.join(shown)}]" if shown else ""

    @functools.cache  # a value used by many nodes is printed once
    def show(name: str) -> str:
        if name in args:
            return args[name]
        if name in constants:
            array = numpy_helper.to_array(constants[name])
            return _value(array.tolist()) if array.size <= 4 else "W"
        if name in inputs:
            return "input"
        node = producers.get(name)
        if node is None:
            return "?"
        if node.op_type == "Identity":  # changes nothing; tf2onnx hands a loop's state out through one
            return show(node.input[0])
        slot = f"#{list(node.output).index(name)}" if len(node.output) > 1 else ""
        return f"{node.op_type}{slot}{attrs(node)}({','.join(show(i) for i in node.input)})"

    return show


def _value(v) -> str:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return f"[{','.join(_value(x) for x in v)}]"
    return repr(v)
