"""Trained twins, and a twin's weights moved into the other framework's twin through the
model's port table (xdl/port/engine.py)."""

from __future__ import annotations

from pathlib import Path

from xdl import artifacts, backends
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
    art = artifacts.load(Path(out) / model / weights)
    return spec, nets, spec.from_feeds(art.inputs)
