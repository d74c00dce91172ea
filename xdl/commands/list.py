"""`xdl list`: the registered models and data sets."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import EXIT_OK
from xdl.spec import registry


def add_parser(sub) -> None:
    common.command(sub, "list", "the registered models and data sets").set_defaults(func=run)


def run(args) -> int:
    from xdl import data
    from xdl.report import table

    rows = []
    for name in registry.names():
        spec = registry.get(name)
        inputs = ", ".join(f"{t.name} {list(t.shape)} {t.dtype} {t.layout}".strip() for t in spec.contract.inputs)
        rows.append([name, spec.task, inputs, spec.recipe.dataset, f"{spec.expectations.param_count:,}", spec.lesson.summary])
    print(table(["model", "task", "inputs (ONNX contract)", "data set", "params", "architecture"], rows))
    print("\ndata sets: " + "; ".join(f"{n} ({data.describe(n)})" for n in data.names()))
    return EXIT_OK
