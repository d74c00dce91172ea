"""`xdl bench`: what each way of running a model costs, measured side by side in one run.

For every model: batch-1 latency (p50, p90) and larger-batch throughput of Keras (a direct
call, a compiled tf.function, and model.predict for reference), PyTorch (eager in inference
mode, and torch.compile when asked), and ONNX Runtime on both exports (CPU; CUDA with I/O
binding when usable); training throughput of both frameworks; and a sweep of ORT session
options that justifies the ones xdl uses. Inputs are the artifacts' real test samples.

No test asserts a time: benchmarks are benchmarks. The targets of the project are computed as
ratios measured in the same run and reported as met or not.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xdl import artifacts, backends, limits, models
from xdl.errors import InputError, XdlError
from xdl.spec import registry, tasks
from xdl.timing import measure


@dataclass
class Timing:
    model: str
    path: str  # e.g. "keras model(x)", "ort-cpu[torch]"
    batch: int
    p50_ms: float
    p90_ms: float
    reps: int

    @property
    def samples_per_s(self) -> float:
        return self.batch / (self.p50_ms / 1e3)


def _ort_session(model_bytes: bytes, provider: str, level: str = "all", threads: int = 0):
    import onnxruntime as ort

    from xdl import verify

    if provider != "cpu":
        return verify.session(model_bytes, provider)  # really on CUDA, TF32 off, or raises
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    options.intra_op_num_threads = threads  # 0: ORT's default, one per physical core
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _cuda_io_binding_call(sess, feeds: dict[str, np.ndarray]):
    """A CUDA run with the inputs copied to the device once and the outputs left there."""
    import onnxruntime as ort

    binding = sess.io_binding()
    for name, x in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
    for out in sess.get_outputs():
        binding.bind_output(out.name, "cuda")
    return lambda: sess.run_with_iobinding(binding)


def bench_inference(model: str, *, batch_sizes=(1, 64), providers=("cpu",), reps=200, warmup=20,
                    out="exported_models", torch_compile=False) -> tuple[list[Timing], dict[str, str]]:
    """Times every inference path of one model; returns the timings and the paths skipped (why)."""
    spec = registry.get(model)
    kfw, tfw = backends.load("keras"), backends.load("torch")
    arts = {fw: artifacts.load(Path(out) / model / fw) for fw in registry.FRAMEWORKS}
    stored = arts["keras"].inputs  # real test samples, contract layout, by input name
    knet, tnet = models.build(spec, "keras"), models.build(spec, "torch")
    kfw.load_weights(knet, arts["keras"].folder / kfw.WEIGHTS_FILE)
    tfw.load_weights(tnet, arts["torch"].folder / tfw.WEIGHTS_FILE)
    timings, skipped = [], {}
    for n in batch_sizes:
        feeds = {k: np.ascontiguousarray(np.resize(a, (n, *a.shape[1:]))) for k, a in stored.items()}
        paths = {**kfw.timed_paths(knet, spec, feeds), **tfw.timed_paths(tnet, spec, feeds, compiled=torch_compile)}
        for fw in registry.FRAMEWORKS:
            for provider in providers:
                name = f"ort-{provider}[{fw}]"
                try:
                    sess = _ort_session(arts[fw].model_bytes, provider)
                except XdlError as exc:
                    skipped[name] = str(exc)
                    continue
                if provider == "cpu":
                    paths[name] = lambda s=sess, f=feeds: s.run(None, f)
                else:
                    paths[name] = _cuda_io_binding_call(sess, feeds)
        timings += _timed_in_turns(model, n, paths, reps, warmup)
    return timings, skipped


ROUNDS = 5  # every path of a model and batch size is timed in this many turns


def _timed_in_turns(model: str, batch: int, paths: dict, reps: int, warmup: int) -> list[Timing]:
    """Each path's p50 and p90, as the medians over ROUNDS turns taken with the other paths: a
    shared machine's speed drifts within minutes, and two paths timed one after the other once
    gave a 1.5x ratio that the next run measured at 0.9x. Timed in turns, a drift slows all alike."""
    share = {name: max(2, (max(10, reps // 10) if name == "keras predict" else reps) // ROUNDS)  # predict: ~40 ms
             for name in paths}
    for name, fn in paths.items():
        for _ in range(min(warmup, share[name])):
            fn()
    turns: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for _ in range(ROUNDS):
        for name, fn in paths.items():
            turns[name].append(measure(fn, reps=share[name], warmup=1))
    return [Timing(model, name, batch, float(np.median([t[0] for t in turns[name]])),
                   float(np.median([t[1] for t in turns[name]])), share[name] * ROUNDS) for name in paths]


def bench_training(model: str, *, steps: int = 20) -> list[Timing]:
    """Training throughput of both twins: `steps` optimizer steps of the spec's batch size and
    optimizer on the model's embedded data set (dropout as in real training)."""
    from xdl.data import for_model

    spec = registry.get(model)
    data = for_model.load(spec, spec.recipe.dataset, None, quick=False)
    bs = spec.recipe.batch_size
    idx = np.resize(np.arange(len(data.x_train)), steps * bs).reshape(steps, bs)
    batches = [(data.x_train[i], data.y_train[i]) for i in idx]
    timings = []
    for framework in registry.FRAMEWORKS:
        fw = backends.load(framework)
        fw.seed_everything(0)
        net = models.build(spec, framework)
        fw.train_steps(net, spec, batches[:2], "spec", spec.recipe.lr)  # warm-up: tracing, allocation
        start = time.perf_counter()
        fw.train_steps(net, spec, batches, "spec", spec.recipe.lr)
        per_step = (time.perf_counter() - start) / steps * 1e3
        timings.append(Timing(model, f"{framework} training step", bs, per_step, per_step, steps))
    return timings


def ort_options_sweep(model: str, *, out="exported_models", reps=200) -> list[dict]:
    """Batch-1 and batch-64 latency of the PyTorch export under each optimisation level and
    thread count: the measurement behind the session options xdl uses."""
    art = artifacts.load(Path(out) / model / "torch")
    rows = []
    for level in ("disabled", "basic", "extended", "all"):
        for threads in (1, os.cpu_count() or 1):
            sess = _ort_session(art.model_bytes, "cpu", level, threads)
            row = {"model": model, "level": level, "threads": threads}
            for n in (1, 64):
                feeds = {k: np.ascontiguousarray(np.resize(a, (n, *a.shape[1:]))) for k, a in art.inputs.items()}
                row[f"b{n}_p50_ms"] = measure(lambda: sess.run(None, feeds), reps=reps, warmup=20)[0]
            rows.append(row)
    return rows


def environment() -> dict:
    import onnxruntime

    from xdl.tools.doctor import versions

    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        **backends.load("torch").threads(),
        **backends.load("keras").threads(),
        "ort_intra_op_threads": "default (one per physical core)",
        "ort_providers": onnxruntime.get_available_providers(),
        "versions": versions(),
    }


@dataclass
class Target:
    model: str
    name: str
    value: float
    goal: float
    met: bool


def targets(timings: list[Timing]) -> list[Target]:
    """The project's speed targets as ratios of p50 latencies measured in this run."""
    by = {(t.model, t.path, t.batch): t.p50_ms for t in timings}
    out = []
    for model in dict.fromkeys(t.model for t in timings):
        def ratio(a, b, n):
            return by[(model, a, n)] / by[(model, b, n)] if (model, a, n) in by and (model, b, n) in by else None

        checks = [
            ("ORT CPU (torch export) / PyTorch eager, batch 1", ratio("ort-cpu[torch]", "torch eager", 1), 0.5),
            ("ORT CPU (keras export) / Keras model(x), batch 1", ratio("ort-cpu[keras]", "keras model(x)", 1), 0.05),
            ("Keras export / PyTorch export on ORT CPU, batch 1", ratio("ort-cpu[keras]", "ort-cpu[torch]", 1), 1.1),
            ("Keras export / PyTorch export on ORT CPU, batch 64", ratio("ort-cpu[keras]", "ort-cpu[torch]", 64), 1.1),
        ]
        out += [Target(model, name, value, goal, value <= goal) for name, value, goal in checks if value is not None]
    return out


PLOT_FORMATS = (".png", ".svg", ".pdf")  # what the chart is useful as; matplotlib picks the format by suffix


def check_request(models: list[str], *, batch_sizes=(1, 64), providers=("cpu",), out="exported_models",
                  plot: str | Path | None = None) -> None:
    """Refuses, before anything is imported or timed, what the run could only fail on after
    minutes: an unknown provider, a batch size whose tensors would not fit under the memory
    limit (xdl/limits.py, as `verify` refuses them), a chart path that is no chart.

    Raises:
        InputError: any of those, or a model whose artifacts cannot be read.
    """
    from xdl import verify

    verify.providers_to_check(providers)  # unknown names; absent ones (cuda here) are skipped later
    for model in models:
        arts = [artifacts.load(Path(out) / model / fw) for fw in registry.FRAMEWORKS]
        per_row = max(sum(a[:1].nbytes for group in (art.inputs, art.outputs) for a in group.values()) for art in arts)
        for n in batch_sizes:
            # the feeds, then each framework's and each export's copy of inputs and outputs
            limits.check_bytes(4.0 * per_row * n, f"--batch-sizes {n} for {model}")
    if plot is not None:
        path = Path(plot)
        if path.suffix.lower() not in PLOT_FORMATS:
            raise InputError(f"--plot {plot}: the chart is written as {', '.join(PLOT_FORMATS)}; "
                             f"give a path ending in one of them")
        artifacts.check_output(path, "the chart")  # what the writer would refuse, before the timing


def run(models: list[str], *, batch_sizes=(1, 64), providers=("cpu",), reps=200, out="exported_models",
        torch_compile=False, training=True, sweep=True) -> dict:
    """Everything, as one JSON-able dict.

    Raises:
        InputError: what check_request refuses.
    """
    check_request(models, batch_sizes=batch_sizes, providers=providers, out=out)
    timings, skipped, sweeps = [], {}, []
    for model in models:
        t, s = bench_inference(model, batch_sizes=batch_sizes, providers=providers, reps=reps, out=out,
                               torch_compile=torch_compile)
        timings += t
        skipped.update({f"{model} {k}": v for k, v in s.items()})
        if training and isinstance(tasks.get(registry.get(model).task), tasks.OwnLoop):
            # its twins train in their own loop (an agent playing, two networks in turn): there are no
            # labelled batches for the back end's train_steps to time
            skipped.update({f"{model} {fw} training step": f"not measured: {model} trains in its own loop "
                            f"(xdl/models/{model}); time it with `xdl train {model}`" for fw in registry.FRAMEWORKS})
        elif training:
            timings += bench_training(model)
        if sweep:
            sweeps += ort_options_sweep(model, out=out, reps=reps)
    return {
        "environment": environment(),
        "settings": {"reps": reps, "batch_sizes": list(batch_sizes), "providers": list(providers),
                     "inputs": "the artifacts' real test samples, repeated to the batch size"},
        "timings": [{**asdict(t), "samples_per_s": t.samples_per_s} for t in timings],
        "targets": [asdict(t) for t in targets(timings)],
        "ort_options": sweeps,
        "skipped": skipped,
    }


def render(result: dict) -> str:
    from xdl.report import table

    rows = [[t["model"], t["path"], str(t["batch"]), f"{t['p50_ms']:.3f}", f"{t['p90_ms']:.3f}",
             f"{t['samples_per_s']:,.0f}"] for t in result["timings"]]
    lines = [table(["model", "path", "batch", "p50 ms", "p90 ms", "samples/s"], rows), ""]
    lines.append(table(["model", "target", "measured", "goal", ""],
                       [[t["model"], t["name"], f"{t['value']:.3f}", f"<= {t['goal']:g}", "met" if t["met"] else "NOT MET"]
                        for t in result["targets"]]))
    if result["ort_options"]:
        lines += ["", table(["model", "ORT optimisation", "threads", "b1 p50 ms", "b64 p50 ms"],
                            [[r["model"], r["level"], str(r["threads"]), f"{r['b1_p50_ms']:.3f}", f"{r['b64_p50_ms']:.3f}"]
                             for r in result["ort_options"]])]
    lines += [f"skipped {k}: {v}" for k, v in result["skipped"].items()]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Batch-1 p50 latency of every inference path, per model, on a log scale."""
    from xdl.errors import require

    require("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [t for t in result["timings"] if t["batch"] == 1 and "training" not in t["path"]]
    models = list(dict.fromkeys(t["model"] for t in rows))
    paths = list(dict.fromkeys(t["path"] for t in rows))
    fig, ax = plt.subplots(figsize=(2.2 + 1.4 * len(paths), 4.5))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        values = {t["path"]: t["p50_ms"] for t in rows if t["model"] == model}
        xs = [j + i * width for j in range(len(paths))]
        ax.bar(xs, [values.get(p, np.nan) for p in paths], width, label=model)
    ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(paths))], paths, rotation=25, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("batch-1 latency, p50 (ms, log scale)")
    ax.set_title("xdl bench: native frameworks vs ONNX Runtime")
    ax.legend()
    fig.tight_layout()
    try:  # the one writer of user-named files: never into an artifact, a device written through
        artifacts.write_output(path, lambda tmp: fig.savefig(tmp, dpi=110, format=Path(path).suffix.lower()[1:]),
                               what="the chart")
    finally:
        plt.close(fig)
