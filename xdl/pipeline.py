"""The workflow the articles teach, run for each framework: load data -> build -> train ->
evaluate -> save -> export -> verify. The CLI commands are thin wrappers over these functions.

Trained runs live in runs/<model>/<framework>/ (weights, metrics.json with the history);
exports in exported_models/<model>/<framework>/ (see xdl.artifacts).
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import xdl
from xdl import artifacts, contract, frameworks, limits, porting, registry, tasks, tolerance, verify
from xdl import data as datasets
from xdl import versions as lib_versions
from xdl.errors import InputError, XdlError

OPSET = contract.OPSET
TEST_BATCH = 64  # samples stored in test_data_set_0
LIVE_BATCH_SIZES = verify.DEFAULT_BATCH_SIZES
QUICK_TEST_SAMPLES = 256
# What an artifact records of the run it came from, and which of the run's metrics it keeps.
PROVENANCE = ("dataset", "data_source", "seed", "weights_sha256", "metrics")
_RUN_METRICS = ("epochs_run", "train_seconds", "train_samples", "test_samples", "quick")


def run_dir(runs: str | Path, model: str, framework: str) -> Path:
    return Path(runs) / model / framework


def _stored_shape(spec) -> tuple:
    """Per-sample shape of a data set's x for this model (None: any length)."""
    if len(spec.inputs) == 1:
        return spec.inputs[0].channels_last_shape
    return (len(spec.inputs),)  # one column per input (a recommender's user and item ids)


def load_data(spec, dataset: str, data_dir, quick: bool, check_allowed: bool = True):
    if check_allowed and dataset not in spec.datasets:
        raise InputError(
            f"{spec.name} cannot train on {dataset!r}; use one of: {', '.join(spec.datasets)}"
        )
    data = datasets.load(
        dataset, data_dir=data_dir, seed=spec.train.seed, validation_split=spec.train.validation_split
    )
    if spec.train.max_length:
        cut = spec.train.max_length
        for split in ("train", "val", "test"):
            setattr(data, f"x_{split}", getattr(data, f"x_{split}")[:, -cut:])  # keep each sequence's end
        data.source += f", cut to the last {cut} tokens"
    want, got = _stored_shape(spec), data.x_train.shape[1:]
    fits = len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))
    labelled = spec.task in ("classification", "tagging")
    if not fits or (labelled and data.num_classes > spec.num_classes):
        raise InputError(
            f"data set {dataset!r} has samples {got} and {data.num_classes} "
            f"classes; {spec.name} takes {want} and {spec.num_classes}"
        )
    _check_domain(spec, data)
    if quick:
        data = data.subset(spec.train.quick_train_samples, QUICK_TEST_SAMPLES)
    return data


def _check_domain(spec, data) -> None:
    """Every id within the model's tables: a token, user or item id past the vocabulary would fail
    deep inside a framework. (Float domains say where fresh test inputs are drawn, not a bound:
    MNIST-1D's values pass gru's +-4; their finiteness is checked by xdl.data.)"""
    for split in ("train", "val", "test"):
        x = getattr(data, f"x_{split}")
        columns = [x] if len(spec.inputs) == 1 else [x[:, i] for i in range(len(spec.inputs))]
        for t, column in zip(spec.inputs, columns):
            low, high = t.domain
            if not len(column) or not np.issubdtype(np.dtype(t.dtype), np.integer):
                continue
            if column.min() < low or column.max() >= high:
                raise InputError(f"data set {data.name!r} has {t.name} ids from {column.min():g} to {column.max():g}; "
                                 f"{spec.name} takes {low:g} <= id < {high:g}: the data set is not for this model "
                                 f"or its files are damaged")


def evaluate(spec, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """The spec's test metric (xdl/tasks.py) of contract-layout `outputs` on stored-form (x, y)."""
    return tasks.score(spec.task, spec.outputs[0].from_contract(outputs), x, y)


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
    fw = frameworks.load(framework)
    dataset = dataset or spec.dataset
    data = load_data(spec, dataset, data_dir, quick)
    cfg = spec.train
    if epochs is not None and (type(epochs) is not int or epochs < 1):
        raise InputError(f"--epochs must be at least 1, got {epochs}")
    epochs_override = epochs
    epochs = epochs or (cfg.quick_epochs if quick else cfg.epochs)
    out = run_dir(runs, model, framework)
    fw.seed_everything(cfg.seed)
    net = fw.build(spec)
    if fw.count_params(net) != spec.param_count:  # the twins must be the same network
        raise XdlError(f"{model}/{framework} has {fw.count_params(net)} parameters, spec says {spec.param_count}")
    # The run is built in a staging folder and published whole (weights, metrics and the best
    # epoch's checkpoint as one unit): a crash or Ctrl-C leaves the previous run as it was.
    staged = artifacts.staging(out)
    try:
        metrics = _train_into(staged, spec, framework, net, data, dataset=dataset, data_dir=data_dir, quick=quick,
                              epochs=epochs, epochs_override=epochs_override, show_progress=show_progress)
        artifacts.publish(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return metrics


def _train_into(folder: Path, spec, framework: str, net, data, *, dataset, data_dir, quick, epochs, epochs_override,
                show_progress) -> dict:
    cfg, fw = spec.train, frameworks.load(framework)
    checkpoint = folder / f"best.{fw.WEIGHTS_FILE}"
    start = time.perf_counter()
    if spec.phases:
        history = train_phases(spec, framework, net, checkpoint=checkpoint, data_dir=data_dir, quick=quick,
                               epochs=epochs_override, show_progress=show_progress)
    else:
        history = fw.train(net, spec, data, epochs=epochs, checkpoint=checkpoint, show_progress=show_progress)
    seconds = time.perf_counter() - start
    _refuse_diverged(spec, framework, history)
    fw.save_weights(net, folder / fw.WEIGHTS_FILE)
    test_metric = evaluate(spec, fw.predict(net, spec, data.x_test), data.x_test, data.y_test)
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
        "seed": cfg.seed,
        "epochs_run": len(history["loss"]),
        "train_seconds": round(seconds, 2),
        "train_samples": len(data.x_train),
        "test_samples": len(data.x_test),
        metric_key(spec): test_metric,
        "history": history,
        "weights_sha256": artifacts.sha256_file(folder / fw.WEIGHTS_FILE),
        "versions": fw.versions(),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


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

    fw = frameworks.load(framework)
    torch_names = {rule.keras: rule.torch for rule in porting.table(spec.name)}

    def names(layers):
        if layers is None:
            return None
        return list(layers) if framework == "keras" else [torch_names[n] for n in layers]

    history: dict[str, list] = {"phase": []}
    for number, phase in enumerate(spec.phases):
        if phase.epochs < 1:
            raise InputError(f"{spec.name}: phase {phase.name} has {phase.epochs} epochs")
        data = load_data(spec, phase.dataset, data_dir, quick, check_allowed=False)
        if phase.reset:
            fw.reinitialise(net, spec, names(phase.reset), seed=spec.train.seed + number + 1)
        fw.set_trainable(net, names(phase.trainable))
        cfg = dataclasses.replace(spec.train, lr=phase.lr)
        n = epochs or (cfg.quick_epochs if quick else phase.epochs)
        checkpoint.unlink(missing_ok=True)  # each phase keeps its own best epoch
        got = fw.train(net, dataclasses.replace(spec, train=cfg), data, epochs=n, checkpoint=checkpoint,
                       show_progress=show_progress)
        for key, values in got.items():
            history.setdefault(key, []).extend(values)
        history["phase"] += [phase.name] * len(got["loss"])
        if after_phase is not None:
            after_phase(phase, net)
    fw.set_trainable(net, None)
    return history


def _read_run(spec, framework: str, runs) -> tuple[Path, dict]:
    run = run_dir(runs, spec.name, framework)
    fw = frameworks.load(framework)
    weights, metrics = run / fw.WEIGHTS_FILE, run / "metrics.json"
    if not weights.is_file() or not metrics.is_file():
        raise InputError(
            f"no trained {spec.name}/{framework} in {run}; run `xdl train {spec.name} --framework {framework}` first"
        )
    try:
        record = json.loads(metrics.read_text())
    except (ValueError, RecursionError, OSError):
        record = None
    keys = (*PROVENANCE[:-1], metric_key(spec), *_RUN_METRICS)
    if not isinstance(record, dict) or any(k not in record for k in keys):
        raise InputError(f"{metrics} is not a metrics file xdl wrote; retrain with `xdl train {spec.name} "
                         f"--framework {framework}`")
    if record["weights_sha256"] != artifacts.sha256_file(weights):
        raise InputError(f"{weights} is not the file {metrics.name} describes (its sha256 differs); retrain with "
                         f"`xdl train {spec.name} --framework {framework}`")
    return weights, record


def core_versions() -> dict:
    import onnx
    import onnxruntime

    return {
        "xdl": xdl.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def build_artifact(spec, framework: str, net, x: np.ndarray, provenance: dict):
    """Exports `net` and assembles everything an artifact folder holds but the files.

    `provenance` (dataset, data_source, seed, weights_sha256, metrics) comes from a training
    run (export) or from a committed manifest (export --check), so both produce the same bytes.

    Returns:
        (onnx.ModelProto on the contract, manifest dict, native outputs for x)
    """
    fw = frameworks.load(framework)
    expected = fw.predict(net, spec, x)
    # the libraries the bytes depend on, as `xdl export --check` compares them (xdl/versions.py)
    versions = {**core_versions(), **fw.versions(), **lib_versions.record(framework)}
    proto = fw.export_onnx(net, spec, OPSET)
    metrics = provenance["metrics"]
    metadata = {
        "xdl.model": spec.name,
        "xdl.framework": framework,
        "xdl.framework_version": versions.get(framework, ""),
        "xdl.exporter": versions["exporter"],
        "xdl.exporter_version": versions["exporter_version"],
        "xdl.opset": OPSET,
        "xdl.dataset": provenance["dataset"],
        f"xdl.{metric_key(spec)}": f"{metrics[metric_key(spec)]:.4f}",
        "xdl.seed": provenance["seed"],
        "xdl.version": xdl.__version__,
        "xdl.weights_sha256": provenance["weights_sha256"],
        "xdl.tolerance_policy": tolerance.POLICY_VERSION,
        "xdl.contract": json.dumps([t.to_json() for t in (*spec.inputs, *spec.outputs)]),
    }
    contract.apply(proto, spec, metadata)
    manifest = {
        "model": spec.name,
        "framework": framework,
        "task": spec.task,
        "contract": {
            "inputs": [t.to_json() for t in spec.inputs],
            "outputs": [t.to_json() for t in spec.outputs],
        },
        "tolerance": tolerance.manifest_entry(spec),
        "opset": OPSET,
        "ops": contract.op_counts(proto),  # what the exporter made: one LSTM op, or a Loop...
        "versions": versions,
        **{k: provenance[k] for k in PROVENANCE},
        "test_data": f"first {len(x)} test samples of {provenance['dataset']}; outputs from native {framework}",
    }
    return proto, manifest, expected




def export(
    model: str,
    framework: str,
    *,
    runs: str | Path = "runs",
    out: str | Path = "exported_models",
    data_dir: str | Path | None = None,
) -> Path:
    """Exports a trained twin to ONNX and writes its artifact folder (see xdl.artifacts).

    The test vectors are the first TEST_BATCH real test samples of the data set the run was
    trained on, with the native framework's outputs for them.

    Returns:
        The artifact folder, exported_models/<model>/<framework>/.
    """
    spec = registry.get(model)
    fw = frameworks.load(framework)
    weights, metrics = _read_run(spec, framework, runs)
    net = fw.build(spec)
    fw.load_weights(net, weights)
    data = load_data(spec, metrics["dataset"], data_dir or metrics.get("data_dir"), quick=False)
    x = data.x_test[:TEST_BATCH]
    provenance = {**{k: metrics[k] for k in PROVENANCE if k != "metrics"},
                  "metrics": {k: metrics[k] for k in (metric_key(spec), *_RUN_METRICS)}}
    proto, manifest, expected = build_artifact(spec, framework, net, x, provenance)
    folder = artifacts.write(Path(out) / model / framework, model=proto, inputs=list(spec.feeds(x).items()),
                             outputs=[(spec.outputs[0].name, expected)], weights=weights, manifest=manifest)
    for part, part_spec, sub, part_x in _parts(spec, framework, net, x):
        proto, manifest, expected = build_artifact(part_spec, framework, sub, part_x, provenance)
        artifacts.write(Path(out) / model / f"{framework}-{part}", model=proto,
                        inputs=list(part_spec.feeds(part_x).items()), outputs=[(part_spec.outputs[0].name, expected)],
                        weights=weights, manifest={**manifest, "model": model, "part": part})
    return folder


def _parts(spec, framework: str, net, x: np.ndarray):
    """(part, its spec, its sub-model, its test inputs) for each exported sub-model, in order:
    a part's test inputs are what the previous part made of x (the decoder decodes the
    encoder's codes of the real test images)."""
    fw = frameworks.load(framework)
    for part, _, _ in spec.parts:
        part_spec = spec.part(part)
        sub = fw.part(net, part)
        yield part, part_spec, sub, x
        x = part_spec.outputs[0].from_contract(fw.predict(sub, part_spec, x))


def export_variant(model: str, framework: str, variant: str, *, out="exported_models", data_dir=None) -> tuple[Path | None, dict]:
    """Makes an fp16 or int8 variant of a committed float32 artifact and judges it.

    It is checked against the float32 model's native outputs under the policy's numbers for its
    dtype; its test-set accuracy and its ORT CPU speed-up at batch 1 and 64 are measured next to
    the float32 model's. Only a variant within its tolerance is written, to
    exported_models/<model>/<framework>-<variant>/.

    Returns:
        (the folder, or None when not written; the measurements)
    """
    from xdl import variants

    spec = registry.get(model)
    if spec.task != "classification" or len(spec.inputs) != 1 or spec.inputs[0].dtype != "float32":
        raise InputError(f"variants are made for classifiers of float32 images (their accuracy judges "
                         f"them); {model} is a {spec.task} model")
    if variant not in variants.VARIANTS:
        raise InputError(f"unknown variant {variant!r}; use one of: {', '.join(variants.VARIANTS)}")
    base = artifacts.load(Path(out) / model / framework)  # the float32 artifact, hashes checked
    m = base.manifest
    t, dtype = spec.inputs[0], variants.VARIANTS[variant]
    data = load_data(spec, m["dataset"], data_dir or None, quick=False)
    model_bytes = make_variant(spec, variant, base.model_bytes, data)

    tols = {o.name: tolerance.tolerance_for(dtype, "cpu", o.kind).pair for o in spec.outputs}
    checks = verify.run_checks(verify.session(model_bytes, "cpu"), base.inputs, base.outputs, model=model,
                               framework=f"{framework}-{variant}", provider="cpu", tolerances=tols,
                               classifier=True)
    x_test = np.ascontiguousarray(t.to_contract(data.x_test))
    stored = base.inputs[t.name]
    speed = {}
    for n in (1, 64):
        x = np.ascontiguousarray(np.resize(stored, (n, *stored.shape[1:])))
        speed[f"speedup_b{n}"] = variants.p50_ms(base.model_bytes, x, t.name) / variants.p50_ms(model_bytes, x, t.name)
    acc32 = variants.accuracy(base.model_bytes, x_test, data.y_test, t.name)
    acc = variants.accuracy(model_bytes, x_test, data.y_test, t.name)
    summary = {
        "model": model, "framework": framework, "variant": variant, "dtype": dtype,
        "max_abs": max(c.max_abs or 0.0 for c in checks), "tolerance": dict(zip(("atol", "rtol"), tols[spec.outputs[0].name])),
        "within_tolerance": all(c.status == "pass" for c in checks),
        "test_accuracy_fp32": acc32, "test_accuracy": acc, "accuracy_change": acc - acc32,
        **speed, "bytes_fp32": len(base.model_bytes), "bytes": len(model_bytes),
        "detail": "; ".join(c.detail for c in checks if c.detail),
    }
    if not summary["within_tolerance"]:
        return None, summary
    manifest = {
        **{k: m[k] for k in ("model", "framework", "task", "contract", "opset", "versions", *PROVENANCE)},
        "tolerance": tolerance.manifest_entry(spec, dtype),
        "variant": {"name": variant, "dtype": dtype, "base_model_sha256": artifacts.sha256_bytes(base.model_bytes),
                    "versions": lib_versions.record(variant),
                    "calibration": f"first {variants.CALIBRATION_SAMPLES} training samples of {m['dataset']}"
                    if variant == "int8-static" else None},
        "metrics": {**m["metrics"], **{k: summary[k] for k in ("test_accuracy", "test_accuracy_fp32", "accuracy_change",
                                                                 "speedup_b1", "speedup_b64")}},
        "test_data": f"{m['test_data']} (the float32 model's native outputs)",
    }
    folder = artifacts.write(Path(out) / model / f"{framework}-{variant}", model=model_bytes,
                             inputs=list(base.inputs.items()), outputs=list(base.outputs.items()),
                             weights=None, manifest=manifest)
    return folder, summary


def make_variant(spec, variant: str, base_bytes: bytes, data) -> bytes:
    """The variant's model.onnx: converted from the float32 bytes (int8-static calibrated on the
    first training samples of `data`, which other variants do not need) and tagged in its metadata."""
    import onnx

    from xdl import variants

    t = spec.inputs[0]
    calibration = t.to_contract(data.x_train[: variants.CALIBRATION_SAMPLES]) if variant == "int8-static" else None
    proto = onnx.load_from_string(variants.make(variant, base_bytes, calibration, t.name))
    proto.metadata_props.append(onnx.StringStringEntryProto(key="xdl.variant", value=variant))
    return proto.SerializeToString()


def fuzz_inputs(spec, n: int, rng, length: int | None = None) -> np.ndarray:
    """n random inputs (stored form) drawn uniformly from each input's declared domain, then
    the edge cases: all at the domain's low end, all at its high end (the largest id, for
    integer inputs), and a checkerboard of the two."""
    def edges(t):
        shape = tuple(length if d is None else d for d in t.channels_last_shape)
        low, high = t.domain
        if np.issubdtype(np.dtype(t.dtype), np.integer):
            high = high - 1  # integer domains exclude their high end, like range()
        checker = np.indices(shape).sum(axis=0) % 2 * (high - low) + low
        return np.stack([np.full(shape, low), np.full(shape, high), checker]).astype(t.dtype)

    arrays = [np.concatenate([t.sample(rng, n, length), edges(t)]) for t in spec.inputs]
    return arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)


def live_batches(spec, rng, batch_sizes, fuzz: int = 0) -> list[np.ndarray]:
    """Fresh stored-form inputs: one batch per size (at each of the spec's sequence lengths,
    for a model whose length is dynamic), then `fuzz` random inputs plus the edge cases."""
    lengths = spec.seq_lengths or (None,)
    batches = [spec.sample(rng, n, length) for length in lengths for n in batch_sizes]
    if fuzz:
        batches += [fuzz_inputs(spec, fuzz, rng, length) for length in lengths]
    return batches


def verify_live(model: str, *, out="exported_models", providers=("cpu",), required=(),
                batch_sizes=LIVE_BATCH_SIZES, fuzz: int = 0, seed: int = 12345) -> list[verify.Check]:
    """Re-runs the native twins and their exports on fresh inputs at several batch sizes (and
    sequence lengths), and on `fuzz` random inputs plus the domain's edge values.

    The inputs are drawn uniformly from each input's declared domain, so they are new to both
    the model and the stored test vectors.
    """
    spec = registry.get(model)
    rng = np.random.default_rng(seed)
    one = spec.sample(rng, 1, max(spec.seq_lengths or (1,)))
    for n in (*batch_sizes, fuzz + 3 if fuzz else 0):  # inputs, and outputs of about their size, kept twice
        limits.check_bytes(4.0 * one.nbytes * n, f"--fuzz {fuzz}" if n == fuzz + 3 else f"batch size {n}")
    checks: list[verify.Check] = []
    for framework in registry.FRAMEWORKS:
        folder = Path(out) / model / framework
        try:
            art = artifacts.load(folder)
        except XdlError as exc:
            checks.append(verify.Check(model, framework, "-", "error", detail=str(exc), exit_code=exc.exit_code))
            continue
        fw = frameworks.load(framework)
        net = fw.build(spec)
        weights = folder / fw.WEIGHTS_FILE
        fw.load_weights(net, weights)
        for provider in verify.providers_to_check(providers, required):
            sess, why_not = verify.open_session(art.model_bytes, provider, required, model=model, framework=framework)
            if why_not:
                checks.append(why_not)
                continue
            for x in live_batches(spec, rng, batch_sizes, fuzz):
                checks += verify.run_checks(
                    sess, spec.feeds(x), {spec.outputs[0].name: fw.predict(net, spec, x)},
                    model=model, framework=framework, provider=provider,
                    tolerances=verify.tolerances(art.manifest, provider), classifier=verify.is_classifier(art.manifest),
                )
    return checks


@dataclass
class Row:
    """One line of `xdl all`'s table."""

    model: str
    framework: str
    dataset: str = ""
    metric: str = ""  # "accuracy", "auc", "rmse"... (xdl/tasks.py)
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
            runs="runs", out="exported_models", show_progress=True) -> tuple[list[Row], verify.ParityReport]:
    """Trains, exports and verifies every (model, framework); one failure does not stop the rest."""
    report = verify.ParityReport()
    rows = []
    for model in models or registry.names():
        for framework in registry.FRAMEWORKS:
            row = Row(model, framework)
            rows.append(row)
            try:
                start = time.perf_counter()
                metrics = train(model, framework, quick=quick, epochs=epochs, runs=runs,
                                show_progress=show_progress)
                row.seconds["train"] = metrics["train_seconds"]
                row.seconds["set-up"] = time.perf_counter() - start - metrics["train_seconds"]
                spec = registry.get(model)
                row.dataset, row.metric, row.test_metric = metrics["dataset"], spec.metric, metrics[metric_key(spec)]
                start = time.perf_counter()
                folder = export(model, framework, runs=runs, out=out)
                row.seconds["export"] = time.perf_counter() - start
                row.export = "ok"
            except XdlError as exc:
                row.export, row.error = "failed", str(exc)
                report.checks.append(verify.Check(model, framework, "-", "error", detail=str(exc),
                                                  exit_code=exc.exit_code))
                continue
            start = time.perf_counter()
            checks = [c for f in [folder, *(folder.with_name(f"{framework}-{p}") for p, _, _ in registry.get(model).parts)]
                      for c in verify.verify_artifact(f, providers, required)]
            row.seconds["verify"] = time.perf_counter() - start
            report.checks += checks
            row.cpu, row.cuda = _provider_cell(checks, "cpu"), _provider_cell(checks, "cuda")
            errors = [c.max_abs for c in checks if c.max_abs is not None]
            row.max_abs = max(errors) if errors else None
    return rows, report
