"""Proving two hand-written twins are the same network, and finding where they are not.

- port(): moves one twin's weights into the other through the model's port table.
- matrix(): one set of weights, four (or six, with CUDA) ways to run it: Keras, PyTorch, and
  both frameworks' ONNX exports on ONNX Runtime; every pair compared.
- layer_diff(): both twins' activations layer by layer, layouts reconciled; the first layer
  whose error exceeds the tolerance is where the twins part.
- training_parity(): both twins from the same initial weights, the same batches in the same
  order, K optimizer steps; the loss compared at every step and the weights at the end.

The weights come from the committed artifacts (exported_models/<model>/<framework>/), whose
hashes are checked first, so all of this runs on a fresh clone without training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from xdl import artifacts, contract, frameworks, optimizers, porting, registry, verify
from xdl import data as datasets
from xdl.errors import EXIT_OK, EXIT_PARITY, InputError, XdlError


def other(framework: str) -> str:
    return {"keras": "torch", "torch": "keras"}[framework]


def load_trained(model: str, framework: str, *, out="exported_models", weights: Path | None = None):
    """Builds a twin and loads trained weights: `weights`, or the committed artifact's."""
    spec = registry.get(model)
    fw = frameworks.load(framework)
    if weights is None:
        art = artifacts.load(Path(out) / model / framework)  # sha256 checked before loading
        weights = art.folder / fw.WEIGHTS_FILE
    net = fw.build(spec)
    fw.load_weights(net, Path(weights))
    return net


def port(model: str, source: str, source_net, target_net) -> None:
    """Copies `source_net`'s weights into `target_net` (the other framework's twin)."""
    rules = porting.table(model)
    src, dst = frameworks.load(source), frameworks.load(other(source))
    convert = porting.keras_to_torch if source == "keras" else porting.torch_to_keras
    dst.set_weights(target_net, convert(rules, src.get_weights(source_net), dst.get_weights(target_net)))


def shared_twins(model: str, weights: str = "keras", *, out="exported_models"):
    """Both twins holding the trained weights of the `weights` twin, and a batch of real test
    samples (the artifact's test vectors, channels-last).

    Returns:
        (spec, {"keras": net, "torch": net}, x)
    """
    spec = registry.get(model)
    if weights not in registry.FRAMEWORKS:
        raise InputError(f"--weights must be one of {', '.join(registry.FRAMEWORKS)}, got {weights!r}")
    nets = {weights: load_trained(model, weights, out=out)}
    target = other(weights)
    nets[target] = frameworks.load(target).build(spec)
    port(model, weights, nets[weights], nets[target])
    art = artifacts.load(Path(out) / model / weights)
    return spec, nets, spec.from_feeds(art.inputs)


# ----------------------------------------------------------------------------- the matrix


@dataclass
class Matrix:
    """Pairwise comparison of every way of running one set of weights on the same inputs."""

    model: str
    weights: str
    batch: int
    atol: float
    rtol: float
    names: list[str]
    max_abs: list[list[float]]
    max_rel: list[list[float]]
    argmax_agreement: list[list[float]]
    ok: list[list[bool]]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if all(all(row) for row in self.ok) else EXIT_PARITY

    def to_json(self) -> dict:
        return {**asdict(self), "exit_code": self.exit_code}


def exported_bytes(spec, framework: str, net) -> bytes:
    """Exports a twin in memory, on the contract, as xdl export does (without the files)."""
    from xdl.pipeline import OPSET

    proto = frameworks.load(framework).export_onnx(net, spec, OPSET)
    return contract.apply(proto, spec, {"xdl.model": spec.name, "xdl.framework": framework}).SerializeToString()


def matrix(model: str, weights: str = "keras", *, providers=("cpu", "cuda"), out="exported_models") -> Matrix:
    """Runs one set of trained weights through Keras, PyTorch and both ONNX exports (per
    provider) on the same real test samples and compares every pair."""
    spec, nets, x = shared_twins(model, weights, out=out)
    outputs: dict[str, np.ndarray] = {}
    for framework in registry.FRAMEWORKS:
        outputs[framework] = frameworks.load(framework).predict(nets[framework], spec, x)
    skipped = {}
    feed = spec.feeds(x)
    for framework in registry.FRAMEWORKS:
        model_bytes = exported_bytes(spec, framework, nets[framework])
        for provider in providers:
            name = f"onnx[{framework}]/{provider}"
            try:
                sess = verify.session(model_bytes, provider)
            except XdlError as exc:
                skipped[name] = str(exc)
                continue
            outputs[name] = sess.run(None, feed)[0]
    names = list(outputs)
    tol = spec.tolerance
    size = len(names)
    m = Matrix(model, weights, len(x), tol.atol, tol.rtol, names,
               [[0.0] * size for _ in names], [[0.0] * size for _ in names],
               [[1.0] * size for _ in names], [[True] * size for _ in names], skipped)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            c = verify.compare(outputs[a], outputs[b], tol.atol, tol.rtol, verify.is_classifier({"task": spec.task}))
            m.max_abs[i][j], m.max_rel[i][j], m.ok[i][j] = c.max_abs, c.max_rel, c.ok
            if c.argmax_total:
                m.argmax_agreement[i][j] = c.argmax_agree / c.argmax_total
    return m


def render_matrix(m: Matrix) -> str:
    from xdl.report import table

    short = [n.replace("onnx[", "ort:").replace("]/", "/") for n in m.names]
    rows = [[short[i], *("-" if i == j else f"{m.max_abs[i][j]:.1e}" for j in range(len(short)))]
            for i in range(len(short))]
    lines = [
        f"{m.model}: weights trained in {m.weights}, {m.batch} real test samples; "
        f"max abs error between every pair (tolerance atol {m.atol:g} + rtol {m.rtol:g})",
        table(["", *short], rows),
    ]
    worst = max((m.max_rel[i][j] for i in range(len(short)) for j in range(len(short))), default=0.0)
    agree = min((m.argmax_agreement[i][j] for i in range(len(short)) for j in range(len(short))), default=1.0)
    lines.append(f"max rel error {worst:.1e}; top-1 agreement between every pair at least {agree:.0%}")
    lines += [f"skipped {name}: {reason}" for name, reason in m.skipped.items()]
    bad = [f"{short[i]} vs {short[j]}" for i in range(len(short)) for j in range(i + 1, len(short)) if not m.ok[i][j]]
    lines.append(f"parity FAILED: {', '.join(bad)}" if bad else "parity OK: every pair within tolerance")
    return "\n".join(lines)


def plot_matrix(m: Matrix, path: Path) -> None:
    """A heat map of log10(max abs error) per pair, saved as PNG."""
    from xdl.errors import require

    require("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    values = np.array(m.max_abs, dtype=np.float64)
    logs = np.log10(np.maximum(values, 1e-12))
    np.fill_diagonal(logs, np.nan)
    fig, ax = plt.subplots(figsize=(1.6 * len(m.names) + 2, 1.3 * len(m.names) + 1.5))
    image = ax.imshow(logs, cmap="viridis", vmin=-9, vmax=max(-4, float(np.nanmax(logs))))
    ax.set_xticks(range(len(m.names)), m.names, rotation=30, ha="right")
    ax.set_yticks(range(len(m.names)), m.names)
    for i in range(len(m.names)):
        for j in range(len(m.names)):
            if i != j:
                ax.text(j, i, f"{values[i, j]:.0e}", ha="center", va="center", color="white", fontsize=8)
    bar = fig.colorbar(image, label="log10 max abs error")
    bar.ax.axhline(np.log10(m.atol), color="red", linewidth=2)  # the tolerance
    ax.set_title(f"{m.model}: pairwise parity (weights from {m.weights}; tolerance {m.atol:g})")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------ the layer diff


@dataclass
class LayerDiff:
    keras_layer: str
    torch_module: str
    shape: list
    max_abs: float | None
    max_rel: float | None
    ok: bool
    detail: str = ""


def _to_torch_layout(activation: np.ndarray, layout) -> np.ndarray:
    if layout == "NHWC":
        return activation.transpose(0, 3, 1, 2)
    if layout == "NWC":  # a sequence: (batch, time, channels) -> (batch, channels, time)
        return activation.transpose(0, 2, 1)
    if isinstance(layout, tuple):  # a flattened (h, w, c) activation, reordered to C, H, W
        h, w, c = layout
        return activation.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(len(activation), -1)
    return activation


def layer_diff(spec, keras_net, torch_net, x: np.ndarray) -> list[LayerDiff]:
    """Compares both twins' activations at every tap of the model's port.py, in order."""
    taps = porting.taps(spec.name)
    k = frameworks.load("keras").activations(keras_net, spec, x, [t[0] for t in taps])
    t = frameworks.load("torch").activations(torch_net, spec, x, [t[1] for t in taps])
    tol = spec.tolerance
    diffs = []
    for keras_layer, torch_module, layout in taps:
        expected, actual = _to_torch_layout(k[keras_layer], layout), t[torch_module]
        if layout == "last":  # Keras's recurrent layer returns the last step; PyTorch's, every step
            actual = actual[:, -1]
        if expected.shape != actual.shape:
            diffs.append(LayerDiff(keras_layer, torch_module, list(actual.shape), None, None, False,
                                   f"shape {list(actual.shape)} vs Keras {list(expected.shape)}"))
            continue
        # Activations are not bounded like probabilities; the tolerance scales with the layer's
        # largest value, so a layer of values ~50 is held to the same relative precision.
        scale = max(1.0, float(np.abs(expected).max()))
        c = verify.compare(actual, expected, tol.atol * scale, tol.rtol, classifier=False)
        diffs.append(LayerDiff(keras_layer, torch_module, list(actual.shape), c.max_abs, c.max_rel, c.ok, c.detail))
    return diffs


def first_divergence(diffs: list[LayerDiff]) -> LayerDiff | None:
    return next((d for d in diffs if not d.ok), None)


def render_diff(model: str, diffs: list[LayerDiff]) -> str:
    from xdl.report import table

    rows = [[d.keras_layer, d.torch_module, str(d.shape), "-" if d.max_abs is None else f"{d.max_abs:.1e}",
             "-" if d.max_rel is None else f"{d.max_rel:.1e}", "ok" if d.ok else "DIFFERS"] for d in diffs]
    first = first_divergence(diffs)
    verdict = (f"{model}: the twins part at Keras layer {first.keras_layer!r} / PyTorch module "
               f"{first.torch_module!r}: {first.detail}" if first else f"{model}: every layer agrees")
    return table(["keras layer", "torch module", "shape (torch layout)", "max abs", "max rel", ""], rows) + "\n" + verdict


# ----------------------------------------------------------------------- training parity


@dataclass
class TrainingParity:
    model: str
    steps: int
    optimizer: str  # "sgd" or the spec's optimizer name
    lr: float
    batch_size: int
    keras_losses: list[float]
    torch_losses: list[float]
    max_rel_loss: float
    weights_max_abs: float  # between the frameworks after the last step
    weights_max_rel: float
    weights_moved: float  # max abs change of any weight during training: the scale to compare with
    target: float
    difference: str  # what separates the frameworks' update rule, from xdl/optimizers.py
    worst_weight: str = ""  # which weight array (Keras layer[index]) and element differ most

    @property
    def ok(self) -> bool:
        return self.max_rel_loss <= self.target

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_PARITY

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok, "exit_code": self.exit_code}


def training_parity(model: str, steps: int = 20, *, optimizer: str = "sgd", lr: float = 0.01,
                    target: float = 1e-4) -> TrainingParity:
    """Trains both twins for `steps` steps from the same initial weights on the same batches.

    Dropout is disabled (its random masks cannot be shared across frameworks); everything
    else is the real model. optimizer "sgd" is plain SGD; "spec" is the model's own optimizer
    mapped as xdl/optimizers.py says, whose remaining differences the report names.
    """
    spec = registry.get(model)
    if steps < 1:
        raise InputError(f"--train-steps must be at least 1, got {steps}")
    if optimizer not in ("sgd", "spec"):
        raise InputError(f"--optimizer must be 'sgd' or 'spec', got {optimizer!r}")
    kfw, tfw = frameworks.load("keras"), frameworks.load("torch")
    kfw.seed_everything(spec.train.seed)
    nets = {"keras": kfw.build(spec), "torch": tfw.build(spec)}
    port(model, "keras", nets["keras"], nets["torch"])  # the same initial weights
    for fw_name, net in nets.items():
        frameworks.load(fw_name).disable_dropout(net)

    data = datasets.load(spec.dataset, seed=spec.train.seed)
    bs, n = spec.train.batch_size, len(data.x_train)
    rng = np.random.default_rng(spec.train.seed)
    # Epoch after epoch, a fresh shuffle each, as fit() would: one stream both frameworks share.
    order = np.concatenate([rng.permutation(n) for _ in range(-(-steps * bs // n))])
    batches = [(data.x_train[idx], data.y_train[idx]) for idx in order[: steps * bs].reshape(steps, bs)]

    initial = kfw.get_weights(nets["keras"])
    losses = {name: frameworks.load(name).train_steps(net, spec, batches, optimizer, lr) for name, net in nets.items()}
    k, t = np.array(losses["keras"]), np.array(losses["torch"])
    rules = porting.table(model)
    ported = porting.torch_to_keras(rules, tfw.get_weights(nets["torch"]), kfw.get_weights(nets["keras"]))
    kw = kfw.get_weights(nets["keras"])
    diffs = [np.abs(a - b) for layer in kw for a, b in zip(kw[layer], ported[layer])]
    scales = [np.abs(a) for layer in kw for a in kw[layer]]
    names = [f"{layer}[{i}]" for layer in kw for i in range(len(kw[layer]))]
    worst = int(np.argmax([d.max() for d in diffs]))
    where = np.unravel_index(diffs[worst].argmax(), diffs[worst].shape)
    name = "sgd" if optimizer == "sgd" else spec.train.optimizer
    return TrainingParity(
        model=model, steps=steps, optimizer=name, lr=lr, batch_size=bs,
        keras_losses=k.tolist(), torch_losses=t.tolist(),
        max_rel_loss=float((np.abs(k - t) / np.abs(k)).max()),
        weights_max_abs=float(max(d.max() for d in diffs)),
        weights_max_rel=float(max((d / np.maximum(s, 1e-3)).max() for d, s in zip(diffs, scales))),
        weights_moved=float(max(np.abs(a - b).max() for layer in kw for a, b in zip(kw[layer], initial[layer]))),
        target=target, difference=optimizers.DIFFERENCES[name],
        worst_weight=f"{names[worst]} at {tuple(int(i) for i in where)}",
    )


def render_training(r: TrainingParity) -> str:
    from xdl.report import table

    rows = [[str(i + 1), f"{a:.6f}", f"{b:.6f}", f"{abs(a - b) / abs(a):.1e}"]
            for i, (a, b) in enumerate(zip(r.keras_losses, r.torch_losses))]
    verdict = "OK" if r.ok else "DIVERGED"
    return "\n".join([
        f"{r.model}: {r.steps} steps of {r.optimizer} (lr {r.lr:g}, batch {r.batch_size}) from the same "
        f"initial weights, dropout off",
        table(["step", "keras loss", "torch loss", "rel diff"], rows),
        f"max rel loss diff {r.max_rel_loss:.1e} (target {r.target:g}); weights after {r.steps} steps: "
        f"max abs diff {r.weights_max_abs:.1e}, max rel {r.weights_max_rel:.1e}; "
        f"training moved weights by up to {r.weights_moved:.1e}; largest difference at {r.worst_weight}",
        f"what separates the two update rules: {r.difference}",
        f"training parity {verdict}",
    ])
