"""`xdl scaling`: training throughput on 1 and N workers, per model and framework.

Each measurement is a fresh `xdl train` process (TensorFlow splits a CPU into devices only before
its runtime starts; torchrun starts its own processes anyway) on the model's embedded data set for
a few epochs, into a temporary runs folder. Throughput is training samples x epochs / the seconds
of the training loop (validation included, start-up and the test score not), as metrics.json
records them: the same formula for one process and for N.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from xdl.errors import first_line
from xdl.spec import registry
from xdl.tools.bench import environment


def run(models: list[str], frameworks: list[str], workers: tuple[int, ...], epochs: int, progress=None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="xdl-scaling-") as runs:
        for model in models:
            for framework in frameworks:
                for n in workers:
                    if progress:
                        progress(f"{model}/{framework} on {n} worker{'s' if n > 1 else ''}")
                    rows.append(_measure(model, framework, n, epochs, Path(runs) / f"{n}"))
    return {"environment": environment(), "epochs": epochs, "workers": list(workers), "rows": rows}


def _measure(model: str, framework: str, workers: int, epochs: int, runs: Path) -> dict:
    command = [sys.executable, "-m", "xdl", "train", model, "--framework", framework, "--epochs", str(epochs),
               "--runs", str(runs), *(["--workers", str(workers)] if workers > 1 else [])]
    # Early stopping would end runs at different epochs; throughput counts the epochs run.
    r = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "XDL_DEBUG": ""})
    row = {"model": model, "framework": framework, "workers": workers}
    if r.returncode != 0:
        lines = [line for line in r.stderr.splitlines() if line.startswith("xdl: error:")]
        return row | {"error": lines[-1] if lines else first_line(Exception(r.stderr[-300:])), "exit_code": r.returncode}
    m = json.loads((runs / model / framework / "metrics.json").read_text())
    spread = m.get("distributed", {})
    return row | {
        "engine": spread.get("engine", "one process"),
        "samples": m["train_samples"],
        "epochs_run": m["epochs_run"],
        "seconds": m["train_seconds"],
        "samples_per_second": round(m["train_samples"] * m["epochs_run"] / m["train_seconds"], 1),
        f"test_{registry.get(model).metric}": round(m[f"test_{registry.get(model).metric}"], 4),
    }


def render(result: dict) -> str:
    env = result["environment"]
    lines = [f"Training throughput, {result['epochs']} epochs per run, on {env['processor']} ({env['cpu_count']} cores).",
             "PyTorch: N processes by torchrun (gloo; torchrun gives each OMP_NUM_THREADS=1, one process alone uses "
             f"{env.get('torch_threads', '?')} threads). Keras: N devices of one process (MirroredStrategy), "
             "logical CPU devices sharing the process's thread pool.",
             "", "| model | framework | workers | engine | samples/s | vs 1 worker | test metric |",
             "|---|---|---|---|---|---|---|"]
    base = {(r["model"], r["framework"]): r for r in result["rows"] if r["workers"] == 1 and "error" not in r}
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['framework']} | {r['workers']} | {r['error']} | | | |")
            continue
        one = base.get((r["model"], r["framework"]))
        ratio = f"{r['samples_per_second'] / one['samples_per_second']:.2f}x" if one else "-"
        metric = next(f"{k[5:]} {v}" for k, v in r.items() if k.startswith("test_"))
        lines.append(f"| {r['model']} | {r['framework']} | {r['workers']} | {r['engine']} | "
                     f"{r['samples_per_second']:,.0f} | {ratio} | {metric} |")
    return "\n".join(lines)


def exit_code(result: dict) -> int:
    """0, or the exit code of the first run that failed (xdl train's own)."""
    return next((r["exit_code"] for r in result["rows"] if "error" in r), 0)

