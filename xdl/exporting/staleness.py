"""`xdl export --check`: is a committed artifact what the current code makes from its own weights?

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

from xdl import artifacts, backends, exporting, training, verify, versions
from xdl.data import for_model
from xdl.errors import EXIT_ENVIRONMENT, EXIT_OK, EXIT_PARITY, XdlError
from xdl.exporting import variants
from xdl.spec import registry

INSTALL_HINT = "install the tested set (pip install -c .ci/constraints.txt -e '.[all]') or re-export with `xdl all`"


@dataclass
class Staleness:
    """Whether a committed artifact is what the current code makes from its own weights."""

    label: str
    status: str  # "up to date" | "stale" | "cannot check"
    problems: list[str]
    exit_code: int


def _kind(manifest: dict) -> str:
    """The key of versions.DEPENDS_ON for this artifact: its variant's name or its framework."""
    variant = manifest.get("variant")
    return variant["name"] if variant else manifest["framework"]


def recorded_versions(manifest: dict) -> dict:
    """The versions the artifact was made with: a variant records its converter's separately."""
    variant = manifest.get("variant")
    return variant.get("versions") or {} if variant else manifest.get("versions") or {}


def version_problems(manifest: dict) -> tuple[list[str], list[str]]:
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
    m, v = art.manifest, art.manifest["variant"]
    base = artifacts.load(art.folder.parent / m["framework"])
    if artifacts.sha256_bytes(base.model_bytes) != v["base_model_sha256"]:
        return Staleness(label, "stale", [f"made from another {m['framework']} model.onnx than the one beside "
                                           f"it: re-make the variant"], EXIT_PARITY)
    spec = registry.get(m["model"])
    data = for_model.load(spec, m["dataset"], None, quick=False) if v["name"] == "int8-static" else None
    problems = []
    if variants.make_variant(spec, v["name"], base.model_bytes, data) != art.model_bytes:
        problems.append("model.onnx differs from a fresh conversion of the float32 model")
    return _verdict(label, problems, unrecorded)


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
    if "variant" in m:
        return _check_variant(art, label, unrecorded)
    spec = registry.get(m["model"])
    if m.get("part"):
        spec = spec.part(m["part"])
    fw = backends.load(m["framework"])
    net = fw.build(registry.get(m["model"]))
    fw.load_weights(net, art.folder / fw.WEIGHTS_FILE)
    if m.get("part"):
        net = fw.part(net, m["part"])
    x = spec.from_feeds(art.inputs)
    provenance = {k: m[k] for k in training.PROVENANCE}
    proto, manifest, expected = exporting.build_artifact(spec, m["framework"], net, x, provenance)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = artifacts.write(Path(tmp) / m["model"] / m["framework"], model=proto,
                                inputs=list(spec.feeds(x).items()),
                                outputs=[(spec.output.name, expected)],
                                weights=art.folder / fw.WEIGHTS_FILE, manifest=manifest)
        inputs = [f"{artifacts.TEST_DIR}/input_{i}.pb" for i in range(len(spec.inputs))]
        for name in (artifacts.MODEL_FILE, *inputs, fw.WEIGHTS_FILE):
            if (fresh / name).read_bytes() != (art.folder / name).read_bytes():
                problems.append(f"{name} differs from a fresh export")
    for key in ("contract", "tolerance", "opset", "task", *training.PROVENANCE):
        if manifest.get(key) != m.get(key):
            problems.append(f"manifest {key!r} differs from what the current code writes")
    tol = verify.tolerances(m, "cpu")
    for name, committed in art.outputs.items():
        c = verify.compare(expected, committed, *tol[name], classifier=verify.is_classifier(m))
        if not c.ok:
            problems.append(f"native {name} differs from the committed test vector: {c.detail}")
    return _verdict(label, problems, unrecorded)


def compare_paths(roots: list[str | Path]):
    """compare_export for every artifact at or under `roots`, yielding (folder, Staleness or the
    XdlError that kept it from being compared): one unreadable artifact does not hide the others."""
    for folder in artifacts.find(roots):
        try:
            yield folder, compare_export(folder)
        except XdlError as exc:
            yield folder, exc
