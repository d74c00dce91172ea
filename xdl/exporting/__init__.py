"""Export: a trained twin to ONNX on its contract, with test vectors and provenance, written as
one artifact folder (xdl.artifacts). Sub-modules: graph (the canonical graph), optimise (exact
rewrites after export), variants (fp16 and int8), staleness (`xdl export check`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xdl import artifacts, backends, models, training, verify
from xdl import versions as lib_versions
from xdl.data import for_model
from xdl.errors import InputError
from xdl.exporting import graph, policy
from xdl.manifest import Contract, Manifest, Optimisation
from xdl.spec import registry, tolerance

TEST_BATCH = 64  # samples stored in test_data_set_0


def route_for(fw, route: str | None) -> str:
    """`route`, checked against the back end's routes; None is the shipped one (the first).

    Raises:
        InputError: the framework has no such route.
    """
    if route is None:
        return fw.EXPORT_ROUTES[0]
    if route not in fw.EXPORT_ROUTES:
        raise InputError(f"{fw.versions()['framework']} has no export route {route!r}; "
                         f"use one of: {', '.join(fw.EXPORT_ROUTES)} (docs/routes.md)")
    return route


def route_of(fw, exporter: str) -> str:
    """The route a manifest's exporter name stands for (as versions() recorded it).

    Raises:
        InputError: an exporter this version of xdl does not make.
    """
    for route, name in fw.EXPORTERS.items():
        if name == exporter:
            return route
    raise InputError(f"the manifest names exporter {exporter!r}, which this xdl does not make; "
                     f"re-export with `xdl export`")


def build_artifact(spec, framework: str, net, x: np.ndarray, provenance: dict, route: str | None = None,
                   optimised: bool = True):
    """Exports `net` by `route` (default: the shipped one), optimised where that verifies (see
    `exported`), and assembles everything an artifact folder holds but the files.

    `provenance` (dataset, data_source, seed, weights_sha256, metrics) comes from a training
    run (export) or from a committed manifest (xdl export check), so both produce the same bytes.

    Returns:
        (onnx.ModelProto on the contract, the Manifest less its files, native outputs for x)
    """
    fw = backends.load(framework)
    route = route_for(fw, route)
    expected = fw.predict(net, spec, x)
    # the libraries the bytes depend on, as `xdl export check` compares them (xdl/versions.py)
    versions = {**lib_versions.core(), **fw.versions(route), **lib_versions.record(framework)}
    proto, steps = exported(spec, fw, net, route, graph.OPSET, optimised, x, expected)
    metrics = provenance["metrics"]
    metadata = {
        "xdl.model": spec.name,
        "xdl.framework": framework,
        "xdl.framework_version": versions.get(framework, ""),
        "xdl.exporter": versions["exporter"],
        "xdl.exporter_version": versions["exporter_version"],
        "xdl.opset": graph.OPSET,
        "xdl.dataset": provenance["dataset"],
        f"xdl.{training.metric_key(spec)}": f"{metrics[training.metric_key(spec)]:.4f}",
        "xdl.seed": provenance["seed"],
        "xdl.version": lib_versions.XDL,
        "xdl.weights_sha256": provenance["weights_sha256"],
        "xdl.tolerance_policy": tolerance.POLICY_VERSION,
        "xdl.contract": json.dumps([t.to_json() for t in (*spec.contract.inputs, *spec.contract.outputs)]),
    }
    graph.apply(proto, spec.contract, metadata, name=spec.name, summary=spec.lesson.summary)
    manifest = Manifest(
        model=spec.name,
        framework=framework,
        task=spec.task,
        contract=Contract.of(spec.contract),
        tolerance=tolerance.manifest_entry(spec),
        opset=graph.OPSET,
        # whether the graph was to be optimised, and the rewrites and passes that changed it
        optimisation=Optimisation(enabled=optimised, applied=tuple(steps)),
        ops=graph.op_counts(proto),  # what the exporter made: one LSTM op, or a Loop...
        versions=versions,
        **{k: provenance[k] for k in training.PROVENANCE},
        test_data=f"first {len(x)} test samples of {provenance['dataset']}; outputs from native {framework}",
    )
    manifest = manifest.replace(**policy.check(spec, fw, net, proto))  # what the task adds: an agent's policy play
    return proto, manifest, expected


def export(
    model: str,
    framework: str,
    *,
    runs: str | Path = "runs",
    out: str | Path = "exported_models",
    data_dir: str | Path | None = None,
    route: str | None = None,
    optimised: bool = True,
    sign=None,
) -> Path:
    """Exports a trained twin to ONNX by `route` (default: the shipped one; docs/routes.md) and
    writes its artifact folder (see xdl.artifacts), signed by `sign` (an xdl.signing.Signer) if given.

    The test vectors are the first TEST_BATCH real test samples of the data set the run was
    trained on, with the native framework's outputs for them.

    Returns:
        The artifact folder, exported_models/<model>/<framework>/.
    """
    spec = registry.get(model)
    check_out(spec, framework, runs, out)
    fw = backends.load(framework)
    route_for(fw, route)  # before the data set is loaded
    weights, metrics = training.read_run(spec, framework, runs)
    net = models.build(spec, framework)
    fw.load_weights(net, weights)
    data = for_model.load(spec, metrics["dataset"], data_dir or metrics.get("data_dir"), quick=False)
    x = data.x_test[:TEST_BATCH]
    provenance = {**{k: metrics[k] for k in training.PROVENANCE if k != "metrics"},
                  "metrics": {k: metrics[k] for k in (training.metric_key(spec), *training.RUN_METRICS,
                                                      *training.OPTIONAL_RUN_METRICS) if k in metrics}}
    proto, manifest, expected = build_artifact(spec, framework, net, x, provenance, route, optimised)
    folder = artifacts.write(Path(out) / model / framework, model=proto, inputs=list(spec.feeds(x).items()),
                             outputs=[(spec.output.name, expected)], weights=weights, manifest=manifest,
                             sign=sign)
    for part, part_spec, sub, part_x in parts(spec, framework, net, x):
        proto, manifest, expected = build_artifact(part_spec, framework, sub, part_x, provenance, route, optimised)
        artifacts.write(Path(out) / model / f"{framework}-{part}", model=proto,
                        inputs=list(part_spec.feeds(part_x).items()), outputs=[(part_spec.output.name, expected)],
                        weights=weights, manifest=manifest.replace(model=model, part=part), sign=sign)
    return folder


def check_out(spec, framework: str, runs: str | Path, out: str | Path) -> None:
    """Refuses, before anything is read or written, an export whose artifact folders (replaced
    whole) are, hold or lie inside the training run it reads, or would replace a folder that is
    not an artifact.

    Raises:
        InputError: they would.
    """
    run = training.run_dir(runs, spec.name, framework)
    flavours = [framework, *(f"{framework}-{p}" for p, _ in spec.contract.parts)]  # the whole model's, each part's
    for folder in [Path(out) / spec.name / f for f in flavours]:
        artifacts.overlap(folder, "--out", {"--runs": run})
        artifacts.replaceable(folder, artifacts.MANIFEST)


def parts(spec, framework: str, net, x: np.ndarray):
    """(part, its spec, its sub-model, its test inputs) for each exported sub-model, in order:
    a part's test inputs are what the previous part made of x (the decoder decodes the
    encoder's codes of the real test images)."""
    fw = backends.load(framework)
    for part, _ in spec.contract.parts:
        part_spec = spec.part(part)
        sub = fw.part(net, part)
        yield part, part_spec, sub, x
        x = part_spec.output.from_contract(fw.predict(sub, part_spec, x))


def to_onnx(spec, framework: str, net, *, route: str | None = None, opset: int = graph.OPSET,
            optimised: bool = True):
    """A twin exported in memory on its contract, canonical, as `xdl export` makes it (without
    the provenance metadata and the files): what tutorials, the parity matrix and `xdl routes`
    run. `route` is one of the back end's EXPORT_ROUTES (default: the shipped one); the
    optimisation is checked on 16 inputs drawn from the contract's domains."""
    fw = backends.load(framework)
    x = spec.sample(np.random.default_rng(0), 16, max(spec.expectations.seq_lengths, default=None))
    expected = fw.predict(net, spec, x) if optimised else None
    proto, _ = exported(spec, fw, net, route_for(fw, route), opset, optimised, x, expected)
    return graph.apply(proto, spec.contract, {"xdl.model": spec.name, "xdl.framework": framework}, name=spec.name,
                       summary=spec.lesson.summary)


def exported(spec, fw, net, route: str, opset: int, optimised: bool, x: np.ndarray, expected) -> tuple:
    """The exporter's graph on the contract, and, when `optimised`, the optimised graph instead
    if ONNX Runtime gives the native outputs for `x` from it within the model's float32 CPU
    tolerance (it always has, docs/routes.md; the check keeps an unproven rewrite out).

    Returns:
        (onnx.ModelProto, the optimisation steps that changed it: [] for the exporter's graph)
    """
    proto = graph.apply(fw.export(fw.deployable(net, spec), spec.contract, opset, route), spec.contract, {},
                        name=spec.name, summary=spec.lesson.summary)
    if not optimised:
        return proto, []
    # here, not at the top: optimise needs onnxscript (an extra), and graph's users need only onnx
    from xdl.exporting import optimise

    candidate, steps = optimise.optimise(proto)
    if not steps:
        return proto, []
    candidate = graph.apply(candidate, spec.contract, {}, name=spec.name, summary=spec.lesson.summary)
    actual = verify.session(candidate.SerializeToString(), "cpu").run(None, spec.feeds(x))[0]
    same = verify.judge(actual, expected, verify.policy.for_spec(spec, "cpu")[spec.output.name]).ok
    return (candidate, steps) if same else (proto, [])
