"""`xdl all`: every model and framework through the stages in order (train -> export ->
verify), one failure not stopping the rest, and the table row each one leaves."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from xdl import exporting, training, verify
from xdl.errors import XdlError
from xdl.spec import registry


@dataclass
class Row:
    """One line of `xdl all`'s table."""

    model: str
    framework: str
    dataset: str = ""
    metric: str = ""  # "accuracy", "auc", "rmse"... (xdl/spec/tasks.py)
    test_metric: float | None = None
    export: str = "-"
    cpu: str = "-"
    cuda: str = "-"
    max_abs: float | None = None
    error: str = ""
    # wall seconds of each stage, for the breakdown `xdl all` prints: data and model set-up,
    # the training loop alone (also in metrics.json), export with its test vectors, verification
    seconds: dict = field(default_factory=dict)


def _provider_cell(checks: list[verify.Check], provider: str) -> str:
    mine = [c for c in checks if c.provider == provider]
    if not mine:
        return "-"
    if all(c.status == "pass" for c in mine):
        return "pass"
    return next(c.status for c in mine if c.status != "pass")


def run_all(models=None, *, quick=False, epochs=None, providers=("cpu", "cuda"), required=(),
            runs="runs", out="exported_models", show_progress=True) -> tuple[list[Row], verify.Report]:
    """Trains, exports and verifies every (model, framework); one failure does not stop the rest."""
    report = verify.Report()
    rows = []
    for model in models or registry.names():
        for framework in registry.FRAMEWORKS:
            row = Row(model, framework)
            rows.append(row)
            try:
                start = time.perf_counter()
                metrics = training.train(model, framework, quick=quick, epochs=epochs, runs=runs,
                                show_progress=show_progress)
                row.seconds["train"] = metrics["train_seconds"]
                row.seconds["set-up"] = time.perf_counter() - start - metrics["train_seconds"]
                spec = registry.get(model)
                row.dataset, row.metric, row.test_metric = metrics["dataset"], spec.metric, metrics[training.metric_key(spec)]
                start = time.perf_counter()
                folder = exporting.export(model, framework, runs=runs, out=out)
                row.seconds["export"] = time.perf_counter() - start
                row.export = "ok"
            except XdlError as exc:
                row.export, row.error = "failed", str(exc)
                report.checks.append(verify.Check(model, framework, "-", "error", detail=str(exc),
                                                  exit_code=exc.exit_code))
                continue
            start = time.perf_counter()
            checks = [c for f in [folder, *(folder.with_name(f"{framework}-{p}") for p, _ in registry.get(model).contract.parts)]
                      for c in verify.verify_artifact(f, providers, required)]
            row.seconds["verify"] = time.perf_counter() - start
            report.checks += checks
            row.cpu, row.cuda = _provider_cell(checks, "cpu"), _provider_cell(checks, "cuda")
            errors = [c.max_abs for c in checks if c.max_abs is not None]
            row.max_abs = max(errors) if errors else None
    return rows, report


@dataclass
class Gap:
    """How far apart the twins' test metrics ended, against the margin the spec states."""

    model: str
    metric: str
    keras: float
    torch: float
    margin: float

    @property
    def gap(self) -> float:
        return abs(self.keras - self.torch)

    @property
    def within(self) -> bool:
        return self.gap <= self.margin


def gaps(rows: list[Row]) -> list[Gap]:
    """One Gap per model whose two twins both trained."""
    found = []
    for model in dict.fromkeys(r.model for r in rows):
        got = {r.framework: r.test_metric for r in rows if r.model == model and r.test_metric is not None}
        if len(got) == 2:
            spec = registry.get(model)
            found.append(Gap(model, spec.metric, got["keras"], got["torch"], spec.expectations.margin))
    return found


STAGES = ("set-up", "train", "export", "verify")


def render(rows: list[Row]) -> str:
    """`xdl all`'s table, the wall time of each stage, and each model's gap between its twins."""
    from xdl.report import table

    lines = [table(
        ["model", "framework", "data set", "test metric", "export", "ORT-CPU", "ORT-CUDA", "max abs err",
         *(f"{s} s" for s in STAGES)],
        [[r.model, r.framework, r.dataset or "-", "-" if r.test_metric is None else f"{r.metric} {r.test_metric:.4f}",
          r.export, r.cpu, r.cuda, "-" if r.max_abs is None else f"{r.max_abs:.1e}",
          *(f"{r.seconds[s]:.0f}" if s in r.seconds else "-" for s in STAGES)] for r in rows],
    )]
    total = sum(sum(r.seconds.values()) for r in rows)
    lines.append(f"wall time: {total:.0f} s in all (" + ", ".join(
        f"{s} {sum(r.seconds.get(s, 0) for r in rows):.0f} s" for s in STAGES) + ")")
    lines += [f"{g.model}: test {g.metric} keras {g.keras:.4f} vs torch {g.torch:.4f}, gap {g.gap:.4f} "
              f"({'within' if g.within else 'BEYOND'} the stated margin {g.margin:g})" for g in gaps(rows)]
    return "\n".join(lines)
