"""Training runs: one twin trained on its spec's recipe (phases included), its weights and
metrics published into runs/<model>/<framework>/ as one unit, and read back, checked, by export.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from xdl import artifacts, backends, models
from xdl.data import for_model
from xdl.errors import InputError, XdlError
from xdl.spec import registry, tasks

# What an artifact records of the run it came from, and which of the run's metrics it keeps.
PROVENANCE = ("dataset", "data_source", "seed", "weights_sha256", "metrics")


RUN_METRICS = ("epochs_run", "train_seconds", "train_samples", "test_samples", "quick")
OPTIONAL_RUN_METRICS = ("distributed",)  # how a distributed run was spread (engine, processes, replicas)


def run_dir(runs: str | Path, model: str, framework: str) -> Path:
    return Path(runs) / model / framework


def check_runs(runs: str | Path, model: str, framework: str) -> None:
    """Refuses a --runs that would put a run where artifacts live: a run folder is replaced
    whole, so it must not be, hold or lie inside an artifact folder, and --runs must not be an
    artifact root (RUNS/<model>/<framework>/manifest.json); nor may a folder xdl did not write
    be replaced.

    Raises:
        InputError: it would.
    """
    folder = run_dir(runs, model, framework)
    found = artifacts.holding_artifact(folder)
    if found is None:  # an artifact root: the next run of another model would land among them
        found = next((p.parent for p in sorted(Path(runs).glob(f"*/*/{artifacts.MANIFEST}"))), None)
    if found is not None:
        raise InputError(f"--runs {runs} would put the {model}/{framework} run where artifacts live ({found}): a run "
                         f"folder is replaced whole; train into another folder (default: runs)")
    artifacts.replaceable(folder, "metrics.json")


def evaluate(spec, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """The spec's test metric (xdl/spec/tasks.py) of contract-layout `outputs` on stored-form (x, y)."""
    return tasks.get(spec.task).score(spec.output.from_contract(outputs), x, y)


def score(spec, fw, net, data) -> float:
    """The trained twin's test metric, as its task scores it (xdl/spec/tasks.py): on the test
    split's outputs, or for an agent by playing 100 greedy episodes in its environment, or for a
    GAN on its generator's images for the test split's noise."""
    return tasks.get(spec.task).test_score(spec, fw, net, data, for_model.environment(spec))


def metric_key(spec) -> str:
    """Where runs and manifests keep the test metric: "test_accuracy", "test_auc", "test_rmse"..."""
    return f"test_{spec.metric}"


def train(
    model: str,
    framework: str,
    *,
    epochs: int | None = None,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    quick: bool = False,
    runs: str | Path = "runs",
    show_progress: bool = True,
) -> dict:
    """Trains one twin and saves its weights and metrics under runs/<model>/<framework>/.

    Args:
        epochs: overrides the spec's (or, with quick, the quick) number of epochs.
        dataset: one of the spec's data sets; defaults to its embedded offline one.
        quick: a small subset and few epochs, for CI smoke runs.

    Returns:
        The metrics written to metrics.json (the test metric, history, provenance).
    """
    spec = registry.get(model)
    check_runs(runs, model, framework)  # before anything is loaded, trained or written
    if epochs is not None and (type(epochs) is not int or epochs < 1):
        raise InputError(f"--epochs must be at least 1, got {epochs}")
    # The data set before the framework: a missing or malformed one is said at once, not after the
    # seconds PyTorch or TensorFlow take to import.
    dataset = dataset or spec.recipe.dataset
    data = for_model.load(spec, dataset, data_dir, quick)
    fw = backends.load(framework)
    cfg = spec.recipe
    epochs_override = epochs
    epochs = epochs or (cfg.quick_epochs if quick else cfg.epochs)
    out = run_dir(runs, model, framework)
    fw.seed_everything(cfg.seed)
    net = models.build(spec, framework)
    if fw.count_params(net) != spec.expectations.param_count:  # the twins must be the same network
        raise XdlError(f"{model}/{framework} has {fw.count_params(net)} parameters, "
                       f"spec says {spec.expectations.param_count}")
    # The run is built in a staging folder and published whole (weights, metrics and the best
    # epoch's checkpoint as one unit): a crash or Ctrl-C leaves the previous run as it was.
    staged = artifacts.staging(out)
    try:
        _check_room(staged, out, spec)
        metrics = _train_into(staged, spec, framework, net, data, dataset=dataset, data_dir=data_dir, quick=quick,
                              epochs=epochs, epochs_override=epochs_override, show_progress=show_progress)
        artifacts.publish(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return metrics


def _train_into(folder: Path, spec, framework: str, net, data, *, dataset, data_dir, quick, epochs, epochs_override,
                show_progress) -> dict:
    fw = backends.load(framework)
    checkpoint = folder / f"best.{fw.WEIGHTS_FILE}"
    start = time.perf_counter()
    if spec.recipe.phases:
        history = train_phases(spec, framework, net, checkpoint=checkpoint, data_dir=data_dir, quick=quick,
                               epochs=epochs_override, show_progress=show_progress)
    else:
        # The task says what trains: the back end's supervised loop, or the twin's own (dqn: an
        # agent learning from its environment; gan: two networks in turn); same arguments and history.
        fit = tasks.get(spec.task).trainer(fw, models.twin(spec.name, framework))
        history = fit(net, spec, data, epochs=epochs, checkpoint=checkpoint, show_progress=show_progress)
    return record(folder, spec, framework, net, data, history, time.perf_counter() - start,
                  dataset=dataset, data_dir=data_dir, quick=quick)


def record(folder: Path, spec, framework: str, net, data, history: dict, seconds: float, *, dataset, data_dir,
           quick, extra: dict | None = None) -> dict:
    """Writes a trained twin's weights and metrics.json (test metric, history, provenance, and
    `extra`: how a distributed run was spread) into `folder`; returns the metrics."""
    fw = backends.load(framework)
    _refuse_diverged(spec, framework, history)
    fw.save_weights(net, folder / fw.WEIGHTS_FILE)
    test_metric = score(spec, fw, net, data)
    if not np.isfinite(test_metric):
        raise InputError(f"{spec.name}/{framework}: the test {spec.metric} is {test_metric}: the trained model "
                         f"outputs NaN or Inf; check the data set and the learning rate")
    metrics = {
        "model": spec.name,
        "framework": framework,
        "dataset": dataset,
        "data_source": data.source,
        "data_dir": str(data_dir) if data_dir else None,
        "quick": quick,
        "seed": spec.recipe.seed,
        "epochs_run": len(history["loss"]),
        "train_seconds": round(seconds, 2),
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
        metric_key(spec): test_metric,
        "history": history,
        "weights_sha256": artifacts.sha256_file(folder / fw.WEIGHTS_FILE),
        "versions": fw.versions(),
        **(extra or {}),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def _check_room(folder: Path, out: Path, spec) -> None:
    """Raises ENOSPC (exit 3, "the disk is full") before training when the disk cannot hold the
    run's files: the weights, and a checkpoint that may carry the optimizer's slots (Adam: three
    times the weights). Better now than after the training; and HDF5 crashes the process when a
    write fails for want of space (see backends/keras.py), so a full disk must not reach it."""
    import errno
    import os

    if not hasattr(os, "statvfs"):
        return
    disk = os.statvfs(folder)
    if disk.f_bavail * disk.f_frsize < 4 * spec.expectations.param_count * 4 + (1 << 20):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))


def _refuse_diverged(spec, framework: str, history: dict) -> None:
    """A loss that became NaN or Inf means the weights are garbage: nothing is saved."""
    for epoch, loss in enumerate(history.get("loss", []), 1):
        if not np.isfinite(loss):
            raise InputError(f"{spec.name}/{framework}: training diverged (loss {loss} at epoch {epoch}); "
                             f"check the data set for NaN/Inf and lower the learning rate")


def train_phases(spec, framework: str, net, *, checkpoint: Path, data_dir=None, quick: bool = False,
                 epochs: int | None = None, show_progress: bool = True, after_phase=None) -> dict:
    """Runs a multi-stage recipe (xdl.spec.Phase): per phase, freeze all but its layers,
    re-initialise its new ones, train on its data set with its rate; then `after_phase(phase,
    net)` if given (tutorial 09 scores each phase with it). Returns the histories of every
    phase end to end, with a "phase" list naming each epoch's phase."""
    import dataclasses

    fw = backends.load(framework)
    torch_names = {rule.keras: rule.torch for rule in models.port_table(spec.name)}

    def names(layers):
        if layers is None:
            return None
        return list(layers) if framework == "keras" else [torch_names[n] for n in layers]

    history: dict[str, list] = {"phase": []}
    for number, phase in enumerate(spec.recipe.phases):
        if phase.epochs < 1:
            raise InputError(f"{spec.name}: phase {phase.name} has {phase.epochs} epochs")
        data = for_model.load(spec, phase.dataset, data_dir, quick, check_allowed=False)
        if phase.reset:
            fw.seed_everything(spec.recipe.seed + number + 1)  # the new layers' initial weights
            fw.reinitialise(net, models.build(spec, framework), names(phase.reset))
        fw.set_trainable(net, names(phase.trainable))
        cfg = dataclasses.replace(spec.recipe, lr=phase.lr)
        n = epochs or (cfg.quick_epochs if quick else phase.epochs)
        checkpoint.unlink(missing_ok=True)  # each phase keeps its own best epoch
        got = fw.train(net, dataclasses.replace(spec, recipe=cfg), data, epochs=n, checkpoint=checkpoint,
                       show_progress=show_progress)
        for key, values in got.items():
            history.setdefault(key, []).extend(values)
        history["phase"] += [phase.name] * len(got["loss"])
        if after_phase is not None:
            after_phase(phase, net)
    fw.set_trainable(net, None)
    return history


def read_run(spec, framework: str, runs) -> tuple[Path, dict]:
    run = run_dir(runs, spec.name, framework)
    untrained = InputError(
        f"no trained {spec.name}/{framework} in {run}; run `xdl train {spec.name} --framework {framework}` first"
    )
    metrics = run / "metrics.json"
    if not metrics.is_file():  # said before the framework is imported (seconds)
        raise untrained
    weights = run / backends.load(framework).WEIGHTS_FILE
    if not weights.is_file():
        raise untrained
    try:
        record = json.loads(metrics.read_text())
    except (ValueError, RecursionError, OSError):
        record = None
    keys = (*PROVENANCE[:-1], metric_key(spec), *RUN_METRICS)
    if not isinstance(record, dict) or any(k not in record for k in keys):
        raise InputError(f"{metrics} is not a metrics file xdl wrote; retrain with `xdl train {spec.name} "
                         f"--framework {framework}`")
    if record["weights_sha256"] != artifacts.sha256_file(weights):
        raise InputError(f"{weights} is not the file {metrics.name} describes (its sha256 differs); retrain with "
                         f"`xdl train {spec.name} --framework {framework}`")
    return weights, record
