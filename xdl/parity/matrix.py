"""One set of weights, four (six with CUDA) ways to run it: Keras, PyTorch, and both frameworks'
ONNX exports on ONNX Runtime per provider; every pair compared on the same real test samples,
held to the looser of the two runs' tolerances (a CUDA TF32 run to TF32's)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from xdl import artifacts, backends, exporting, twins, verify
from xdl.errors import EXIT_OK, EXIT_PARITY, XdlError
from xdl.spec import registry


@dataclass
class Matrix:
    """Pairwise comparison of every way of running one set of weights on the same inputs."""

    model: str
    weights: str
    batch: int
    atol: float  # the CPU float32 tolerance: every pair's, unless a run's own is looser (`looser`)
    rtol: float
    names: list[str]
    max_abs: list[list[float]]
    max_rel: list[list[float]]
    argmax_agreement: list[list[float]]
    ok: list[list[bool]]
    skipped: dict[str, str] = field(default_factory=dict)
    looser: dict[str, list[float]] = field(default_factory=dict)  # run -> [atol, rtol] its pairs are held to

    @property
    def exit_code(self) -> int:
        return EXIT_OK if all(all(row) for row in self.ok) else EXIT_PARITY

    def to_json(self) -> dict:
        return {**asdict(self), "exit_code": self.exit_code}


def build(model: str, weights: str = "keras", *, providers=("cpu", "cuda"), out="exported_models") -> Matrix:
    """Runs one set of trained weights through Keras, PyTorch and both ONNX exports (per
    provider) on the same real test samples and compares every pair."""
    spec, nets, x = twins.shared_twins(model, weights, out=out)
    outputs: dict[str, np.ndarray] = {}
    provider_of: dict[str, str] = {}  # the native runs compute in float32 on the CPU
    for framework in registry.FRAMEWORKS:
        outputs[framework] = backends.load(framework).predict(nets[framework], spec, x)
        provider_of[framework] = "cpu"
    skipped = {}
    feed = spec.feeds(x)
    for framework in registry.FRAMEWORKS:
        model_bytes = exporting.to_onnx(spec, framework, nets[framework]).SerializeToString()
        for provider in providers:
            name = f"onnx[{framework}]/{provider}"
            try:
                sess = verify.session(model_bytes, provider)
            except XdlError as exc:
                skipped[name] = str(exc)
                continue
            outputs[name], provider_of[name] = sess.run(None, feed)[0], provider
    names = list(outputs)
    criteria = {name: verify.policy.for_spec(spec, provider_of[name])[spec.output.name] for name in names}
    cpu = verify.policy.for_spec(spec, "cpu")[spec.output.name]
    size = len(names)
    m = Matrix(model, weights, len(x), cpu.atol, cpu.rtol, names,
               [[0.0] * size for _ in names], [[0.0] * size for _ in names],
               [[1.0] * size for _ in names], [[True] * size for _ in names], skipped,
               {name: list(c.pair) for name, c in criteria.items() if c.pair != cpu.pair})
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            c = verify.judge(outputs[a], outputs[b], verify.policy.looser(criteria[a], criteria[b]))
            m.max_abs[i][j], m.ok[i][j] = float("inf") if c.max_abs is None else c.max_abs, c.ok
            m.max_rel[i][j] = float("inf") if c.max_rel is None else c.max_rel
            if c.argmax_total:
                m.argmax_agreement[i][j] = c.argmax_agree / c.argmax_total
    return m


def render(m: Matrix) -> str:
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
    lines += [f"pairs with {name}: tolerance atol {atol:g} + rtol {rtol:g} (its provider's)"
              for name, (atol, rtol) in m.looser.items()]
    lines += [f"skipped {name}: {reason}" for name, reason in m.skipped.items()]
    bad = [f"{short[i]} vs {short[j]}" for i in range(len(short)) for j in range(i + 1, len(short)) if not m.ok[i][j]]
    lines.append(f"parity FAILED: {', '.join(bad)}" if bad else "parity OK: every pair within tolerance")
    return "\n".join(lines)


def plot(m: Matrix, path: Path) -> None:
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
    try:  # the one writer of user-named files: never into an artifact, a device written through
        artifacts.write_output(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), what="the heat map")
    finally:
        plt.close(fig)
