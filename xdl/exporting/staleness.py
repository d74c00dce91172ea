"""`xdl export check`: is a committed artifact what the current code makes from its own weights?

A float32 export is re-exported from the committed weights and provenance into a temporary
folder; a variant is re-converted from the float32 model beside it. Then model.onnx and the test
inputs must be identical byte for byte, the native outputs within tolerance, and the manifest's
contract, tolerance and provenance what the current code writes.

Bytes are only comparable under the library versions that made them (xdl/versions.py lists
them per kind of artifact). When an installed version differs from the recorded one the answer
is "cannot check" (exit 3), never "stale": a user with newer libraries must not be told to
regenerate good artifacts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xdl import artifacts, backends, exporting, models, training, verify, versions
from xdl.data import for_model
from xdl.errors import EXIT_ENVIRONMENT, EXIT_OK, EXIT_PARITY, InputError, XdlError
from xdl.exporting import variants
from xdl.manifest import Manifest
from xdl.spec import registry

INSTALL_HINT = "install the tested set (pip install -c .ci/constraints.txt -e '.[all]') or re-export with `xdl all`"


@dataclass
class Staleness:
    """Whether a committed artifact is what the current code makes from its own weights."""

    label: str
    status: str  # "up to date" | "stale" | "cannot check"
    problems: list[str]
    exit_code: int


def _kind(manifest: Manifest) -> str:
    """The key of versions.DEPENDS_ON for this artifact: its variant's name or its framework."""
    return manifest.variant.name if manifest.variant else manifest.framework


def recorded_versions(manifest: Manifest) -> dict:
    """The versions the artifact was made with: a variant records its converter's separately."""
    return manifest.variant.versions or {} if manifest.variant else manifest.versions or {}


def version_problems(manifest: Manifest) -> tuple[list[str], list[str]]:
    """(differences that make a byte comparison meaningless, libraries the manifest does not record)."""
    recorded = recorded_versions(manifest)
    moved, unrecorded = [], []
    for name in versions.DEPENDS_ON[_kind(manifest)]:
        now = versions.installed(name)
        if name not in recorded:
            unrecorded.append(name)
        elif now is None:
            moved.append(f"made with {name} {recorded[name]}, which is not installed here")
        elif recorded[name] != now:
            moved.append(f"made with {name} {recorded[name]}, this is {now}")
    return moved, unrecorded


def _verdict(label: str, problems: list[str], unrecorded: list[str]) -> Staleness:
    if not problems:
        return Staleness(label, "up to date", [], EXIT_OK)
    if unrecorded:  # a difference, but a library change cannot be ruled out
        return Staleness(label, "cannot check", [
            *problems, f"the manifest does not record the version of {', '.join(unrecorded)}: a library "
            f"change cannot be ruled out; re-export with `xdl all`"], EXIT_ENVIRONMENT)
    return Staleness(label, "stale", problems, EXIT_PARITY)


def _check_variant(art, label: str, unrecorded: list[str]) -> Staleness:
    m, v = art.manifest, art.manifest.variant
    base = artifacts.load(art.folder.parent / m.framework)
    if artifacts.sha256_bytes(base.model_bytes) != v.base_model_sha256:
        return Staleness(label, "stale", [f"made from another {m.framework} model.onnx than the one beside "
                                           f"it: re-make the variant"], EXIT_PARITY)
    spec = registry.get(m.model)
    data = for_model.load(spec, m.dataset, None, quick=False) if v.name == "int8-static" else None
    problems = []
    if variants.make_variant(spec, v.name, base.model_bytes, data) != art.model_bytes:
        problems.append("model.onnx differs from a fresh conversion of the float32 model")
    return _verdict(label, problems, unrecorded)


def _export_again(art, into: Path, keep_outputs: bool = False, sign=None) -> tuple[Manifest, np.ndarray, Path]:
    """Exports a float32 artifact again, from its committed weights and provenance, by the route
    and with the optimisation its manifest records (an older manifest without it: the default),
    and writes the result to `into`. With `keep_outputs`, the committed native outputs are
    written again where the fresh ones are within tolerance of them: the last bits of a native
    run move with thread scheduling, and re-exporting must not churn the test vectors.

    Returns:
        (the new manifest, the native outputs for the test inputs, the folder written)
    """
    m = art.manifest
    spec = registry.get(m.model)
    if m.part:
        spec = spec.part(m.part)
    fw = backends.load(m.framework)
    net = models.build(registry.get(m.model), m.framework)
    # The weights loaded and copied are the bytes artifacts.load hashed (and held to the
    # manifest's weights_sha256), from a private copy: never the artifact's path read again.
    with art.held(fw.WEIGHTS_FILE) as weights:
        fw.load_weights(net, weights)
        return _export_from(art, into, keep_outputs, fw, net, spec, weights, sign)


def _export_from(art, into: Path, keep_outputs: bool, fw, net, spec, weights: Path,
                 sign=None) -> tuple[Manifest, np.ndarray, Path]:
    m = art.manifest
    if m.part:
        net = fw.part(net, m.part)
    x = spec.from_feeds(art.inputs)
    provenance = {k: getattr(m, k) for k in training.PROVENANCE}
    route = exporting.route_of(fw, (m.versions or {}).get("exporter", ""))
    optimised = m.optimisation.enabled if m.optimisation else True
    proto, manifest, expected = exporting.build_artifact(spec, m.framework, net, x, provenance, route, optimised)
    if m.part:  # as exporting.export writes a part's manifest
        manifest = manifest.replace(model=m.model, part=m.part)
    committed = art.outputs[spec.output.name]
    if keep_outputs and verify.judge(expected, committed, verify.policy.for_manifest(m, "cpu")[spec.output.name]).ok:
        expected = committed
    folder = artifacts.write(into, model=proto, inputs=list(spec.feeds(x).items()),
                             outputs=[(spec.output.name, expected)], weights=weights,
                             manifest=manifest, sign=sign)
    return manifest, expected, folder


def compare_export(folder: Path) -> Staleness:
    """Regenerates an artifact from its committed weights and provenance and compares.

    Raises:
        XdlError: the artifact cannot be read (exit 2) or a framework is missing (exit 3).
    """
    art = artifacts.load(folder)
    m = art.manifest
    label = art.label
    moved, unrecorded = version_problems(m)
    if moved:
        return Staleness(label, "cannot check", [f"{'; '.join(moved)}: {INSTALL_HINT}"], EXIT_ENVIRONMENT)
    if m.variant:
        return _check_variant(art, label, unrecorded)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest, expected, fresh = _export_again(art, Path(tmp) / m.model / m.framework)
        inputs = [f"{artifacts.TEST_DIR}/input_{i}.pb" for i in range(len(art.inputs))]
        for name in (artifacts.MODEL_FILE, *inputs, backends.load(m.framework).WEIGHTS_FILE):
            if (fresh / name).read_bytes() != art.files[name]:  # the committed bytes as hashed
                problems.append(f"{name} differs from a fresh export")
    for key in ("contract", "tolerance", "opset", "optimisation", "task", "policy_check", *training.PROVENANCE):
        if getattr(manifest, key) != getattr(m, key):
            problems.append(f"manifest {key!r} differs from what the current code writes")
    criteria = verify.policy.for_manifest(m, "cpu")
    for name, committed in art.outputs.items():
        c = verify.judge(expected, committed, criteria[name])
        if not c.ok:
            problems.append(f"native {name} differs from the committed test vector: {c.detail}")
    return _verdict(label, problems, unrecorded)


def refresh(folder: Path, sign=None) -> Path:
    """Rewrites a float32 artifact in place as the current code exports its committed weights
    (after xdl's export changed), with the installed libraries' versions; no retraining. Signed
    by `sign` (an xdl.signing.Signer) if given.

    Raises:
        InputError: a variant (re-make it from its refreshed float32 model with `xdl export variant`).
    """
    art = artifacts.load(folder)
    m = art.manifest
    if m.variant:
        raise InputError(f"{art.label} is a {m.variant.name} variant: re-make it with "
                         f"`xdl export variant {m.variant.name} {m.model} --framework {m.framework}`")
    return _export_again(art, art.folder, keep_outputs=True, sign=sign)[2]


def compare_paths(roots: list[str | Path]):
    """compare_export for every artifact at or under `roots`, yielding (folder, Staleness or the
    XdlError that kept it from being compared): one unreadable artifact does not hide the others."""
    for folder in artifacts.find(roots):
        try:
            yield folder, compare_export(folder)
        except XdlError as exc:
            yield folder, exc
