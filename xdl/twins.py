"""Trained twins, and a twin's weights moved into the other framework's twin through the
model's port table (xdl/port/engine.py).

A stage above the models (it looks their twins and port tables up by name, in xdl.models), where
the engine is below them (their port tables import it): hence a module of its own, not a part of
xdl.port, which would otherwise import the models that import it."""

from __future__ import annotations

import os
from pathlib import Path

from xdl import artifacts, backends, models, verify
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
    net = models.build(spec, framework)
    fw.load_weights(net, Path(weights))
    return net


def port(model: str, source: str, source_net, target_net) -> None:
    """Copies `source_net`'s weights into `target_net` (the other framework's twin)."""
    rules = models.port_table(model)
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
    src, dst = backends.load(source), backends.load(target)
    suffix = dst.WEIGHTS_FILE.split(".", 1)[1]
    output = Path(output) if output else Path(runs) / model / target / f"ported-from-{source}.{suffix}"
    _check_output(output, weights or Path(out) / model / source / src.WEIGHTS_FILE, (src, dst))
    source_net = load_trained(model, source, out=out, weights=weights)
    target_net = models.build(spec, target)
    port(model, source, source_net, target_net)
    # Through the one writer of user-named files: never into an artifact, and a device, FIFO
    # or link is written through, not replaced.
    artifacts.write_output(output, lambda path: dst.save_weights(target_net, path), what="the ported weights",
                           suffix=f".{suffix}")
    x = test_samples(model, source, out=out)
    a, b = backends.load(source).predict(source_net, spec, x), dst.predict(target_net, spec, x)
    return output, verify.judge(b, a, verify.policy.for_spec(spec, "cpu")[spec.output.name])


def _check_output(output: Path, source: Path, frameworks) -> None:
    """Refuses, before anything is loaded, an output that is the source weights or one of a
    training run's own files (replacing it would orphan the run's metrics), or that the write
    would refuse (inside an artifact, a folder...)."""
    artifacts.check_output(output, "the ported weights")
    if os.path.realpath(output) == os.path.realpath(source):
        raise InputError(f"--output {output} is the source weights file; write the ported weights elsewhere")
    own = {"metrics.json"} | {n for fw in frameworks for n in (fw.WEIGHTS_FILE, f"best.{fw.WEIGHTS_FILE}")}
    real = Path(os.path.realpath(output))
    if real.name in own and (real.parent / "metrics.json").is_file():
        raise InputError(f"--output {output} is a file of the training run in {output.parent}; write the ported "
                         f"weights elsewhere (default: RUNS/MODEL/TO/ported-from-FROM.*)")


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
    nets[target] = models.build(spec, target)
    port(model, weights, nets[weights], nets[target])
    return spec, nets, test_samples(model, weights, out=out)
