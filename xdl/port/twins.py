"""Trained twins, and a twin's weights moved into the other framework's twin through the
model's port table (xdl/port/engine.py)."""

from __future__ import annotations

from pathlib import Path

from xdl import artifacts, backends, verify
from xdl.errors import InputError
from xdl.port import engine
from xdl.spec import registry


def other(framework: str) -> str:
    return {"keras": "torch", "torch": "keras"}[framework]


def load_trained(model: str, framework: str, *, out="exported_models", weights: Path | None = None):
    """Builds a twin and loads trained weights: `weights`, or the committed artifact's."""
    spec = registry.get(model)
    fw = backends.load(framework)
    if weights is None:
        art = artifacts.load(Path(out) / model / framework)  # sha256 checked before loading
        weights = art.folder / fw.WEIGHTS_FILE
    net = fw.build(spec)
    fw.load_weights(net, Path(weights))
    return net


def port(model: str, source: str, source_net, target_net) -> None:
    """Copies `source_net`'s weights into `target_net` (the other framework's twin)."""
    rules = engine.table(model)
    src, dst = backends.load(source), backends.load(other(source))
    convert = engine.keras_to_torch if source == "keras" else engine.torch_to_keras
    dst.set_weights(target_net, convert(rules, src.get_weights(source_net), dst.get_weights(target_net)))


def test_samples(model: str, framework: str, *, out="exported_models"):
    """The committed artifact's real test samples, in stored form (channels-last)."""
    art = artifacts.load(Path(out) / model / framework)
    return registry.get(model).from_feeds(art.inputs)


def port_to_file(model: str, source: str, target: str, output: Path | None, *, out="exported_models",
                 runs="runs", weights: Path | None = None):
    """Ports a trained twin's weights (`weights`, or the committed artifact's) into the `target`
    twin, writes them, and runs both twins on the artifact's real test samples.

    Returns:
        (the weights file written, verify's comparison of target against source outputs)

    Raises:
        InputError: source and target are the same framework; the port table does not fit.
    """
    if target == source or target not in registry.FRAMEWORKS:
        raise InputError(f"cannot port from {source} to {target}; port between keras and torch")
    spec = registry.get(model)
    source_net = load_trained(model, source, out=out, weights=weights)
    dst = backends.load(target)
    target_net = dst.build(spec)
    port(model, source, source_net, target_net)
    suffix = dst.WEIGHTS_FILE.split(".", 1)[1]
    output = Path(output) if output else Path(runs) / model / target / f"ported-from-{source}.{suffix}"
    output.parent.mkdir(parents=True, exist_ok=True)
    dst.save_weights(target_net, output)
    x = test_samples(model, source, out=out)
    a, b = backends.load(source).predict(source_net, spec, x), dst.predict(target_net, spec, x)
    tol = spec.tolerance
    return output, verify.compare(b, a, tol.atol, tol.rtol, verify.is_classifier({"task": spec.task}))


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
    nets[target] = backends.load(target).build(spec)
    port(model, weights, nets[weights], nets[target])
    return spec, nets, test_samples(model, weights, out=out)
